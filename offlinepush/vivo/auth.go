package vivo

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

// tokenRefresh is how long an authToken is used: vivo's tokens last a day
// but vivo asks senders to renew them every one to two hours.
const tokenRefresh = time.Hour

// authRequest is the JSON body of /message/auth.
type authRequest struct {
	AppID     string `json:"appId"`
	AppKey    string `json:"appKey"`
	Timestamp int64  `json:"timestamp"` // Unix milliseconds
	Sign      string `json:"sign"`
}

// fetchToken asks vivo for an authToken.
func (c *Client) fetchToken(ctx context.Context) (string, time.Time, error) {
	now := c.cfg.Now()
	ts := now.UnixMilli()
	sum := md5.Sum([]byte(c.cfg.AppID + c.cfg.AppKey + strconv.FormatInt(ts, 10) + c.cfg.AppSecret))
	req := authRequest{AppID: c.cfg.AppID, AppKey: c.cfg.AppKey, Timestamp: ts, Sign: hex.EncodeToString(sum[:])}
	body, err := c.post(ctx, c.authURL, req, "")
	if err != nil {
		return "", time.Time{}, err
	}
	var a struct {
		apiAnswer
		AuthToken string `json:"authToken"`
	}
	if err := json.Unmarshal(body, &a); err != nil || !a.hasResult() {
		return "", time.Time{}, malformed(body, err)
	}
	if a.result() != 0 {
		e := resultError(a.result(), a.Desc)
		if e.Kind == offlinepush.KindPayload || e.Kind == offlinepush.KindTokenInvalid {
			e.Kind = offlinepush.KindAuth // a refused auth request is a configuration problem
		}
		return "", time.Time{}, e
	}
	if a.AuthToken == "" {
		return "", time.Time{}, malformed(body, nil)
	}
	return a.AuthToken, now.Add(tokenRefresh), nil
}
