package huawei

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

// tokenMargin is how long before Huawei's expiry a token is replaced, so
// that a token never expires between the check and the push.
const tokenMargin = 5 * time.Minute

// defaultTokenLifetime is used when the token endpoint leaves out
// expires_in; Huawei documents one hour.
const defaultTokenLifetime = time.Hour

// tokenReply is the token endpoint's answer: the token, or Huawei's numeric
// error, sub_error and error_description.
type tokenReply struct {
	AccessToken      string          `json:"access_token"`
	ExpiresIn        int64           `json:"expires_in"`
	Error            json.RawMessage `json:"error"`
	SubError         json.RawMessage `json:"sub_error"`
	ErrorDescription string          `json:"error_description"`
}

// fetchToken gets the app's access token with the OAuth 2.0
// client-credentials grant, and the time to stop using it: tokenMargin (at
// most half its lifetime) before Huawei says it expires.
func (c *Client) fetchToken(ctx context.Context) (string, time.Time, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.cfg.AppID},
		"client_secret": {c.cfg.AppSecret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.AuthURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindAuth, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", time.Time{}, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindRetry, Err: fmt.Errorf("huawei: token: %w", err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return "", time.Time{}, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindRetry, Status: resp.StatusCode, Err: fmt.Errorf("huawei: token: %w", err)}
	}
	var r tokenReply
	jsonErr := json.Unmarshal(raw, &r)
	code := rawCode(r.Error)

	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "", time.Time{}, &offlinepush.Error{
			Vendor: name, Kind: offlinepush.KindRetry, Status: resp.StatusCode, Code: code,
			RetryAfter: offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now()),
			Err:        fmt.Errorf("huawei: token endpoint answered %s", resp.Status),
		}
	case resp.StatusCode != http.StatusOK || code != "":
		// A refused client ID or secret: only reconfiguration helps.
		return "", time.Time{}, &offlinepush.Error{
			Vendor: name, Kind: offlinepush.KindAuth, Status: resp.StatusCode, Code: code,
			Err: fmt.Errorf("huawei: token refused: sub_error %s: %s", rawCode(r.SubError), r.ErrorDescription),
		}
	case jsonErr != nil || r.AccessToken == "":
		return "", time.Time{}, &offlinepush.Error{
			Vendor: name, Kind: offlinepush.KindRetry, Status: resp.StatusCode,
			Err: fmt.Errorf("huawei: token endpoint answered no access_token (%v)", jsonErr),
		}
	}
	lifetime := time.Duration(r.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = defaultTokenLifetime
	}
	margin := min(tokenMargin, lifetime/2)
	return r.AccessToken, c.cfg.Now().Add(lifetime - margin), nil
}

// rawCode renders a JSON code that Huawei sends as a number or a string
// the way it was sent, without quotes; "" for none.
func rawCode(m json.RawMessage) string {
	s := strings.TrimSpace(string(m))
	if s == "" || s == "null" {
		return ""
	}
	var str string
	if json.Unmarshal(m, &str) == nil {
		return str
	}
	return s
}
