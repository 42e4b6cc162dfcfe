package oppo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

const (
	// tokenLifetime is how long OPPO says an auth_token is valid.
	tokenLifetime = 24 * time.Hour
	// tokenMargin is how long before it expires a token is replaced, so
	// that a push never goes out with a token about to expire.
	tokenMargin = time.Hour
)

// fetchToken asks OPPO for an auth_token.
func (c *Client) fetchToken(ctx context.Context) (string, time.Time, error) {
	now := c.cfg.Now()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	sum := sha256.Sum256([]byte(c.cfg.AppKey + ts + c.cfg.MasterSecret))
	form := url.Values{"app_key": {c.cfg.AppKey}, "timestamp": {ts}, "sign": {hex.EncodeToString(sum[:])}}
	body, err := c.post(ctx, c.authURL, form, "")
	if err != nil {
		return "", time.Time{}, err
	}
	var resp apiResponse
	if err := json.Unmarshal(body, &resp); err != nil || !resp.hasCode() {
		return "", time.Time{}, malformed(body, err)
	}
	if resp.code() != 0 {
		e := codeError(resp.code(), resp.Message)
		if e.Kind == offlinepush.KindPayload || e.Kind == offlinepush.KindTokenInvalid {
			e.Kind = offlinepush.KindAuth // a refused auth request is a configuration problem
		}
		return "", time.Time{}, e
	}
	var data struct {
		AuthToken  string `json:"auth_token"`
		CreateTime int64  `json:"create_time"` // Unix milliseconds
	}
	if err := json.Unmarshal(resp.data(), &data); err != nil || data.AuthToken == "" {
		return "", time.Time{}, malformed(body, err)
	}
	// OPPO may hand back a token it issued earlier: it expires a day
	// after its create_time, not a day after now.
	issued := now
	if data.CreateTime > 0 {
		if t := time.UnixMilli(data.CreateTime); t.Before(now) {
			issued = t
		}
	}
	return data.AuthToken, issued.Add(tokenLifetime - tokenMargin), nil
}
