package vivo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/loftchat/loft/offlinepush"
)

// maxAnswer bounds how much of an answer is read: vivo's are small.
const maxAnswer = 1 << 20

// codeAuthFailed is vivo's "authentication failed": the authToken expired
// or was revoked.
const codeAuthFailed = 10000

// apiAnswer is the part every vivo answer has: {"result":..,"desc":..}.
type apiAnswer struct {
	Result json.RawMessage `json:"result"`
	Desc   string          `json:"desc"`
}

func (a *apiAnswer) hasResult() bool {
	_, err := strconv.Atoi(strings.Trim(string(a.Result), `"`))
	return err == nil
}

// result reads result as a number whether vivo sent 10302 or "10302".
func (a *apiAnswer) result() int {
	n, _ := strconv.Atoi(strings.Trim(string(a.Result), `"`))
	return n
}

// resultError maps vivo's result code to an *offlinepush.Error (see doc.go).
func resultError(code int, desc string) *offlinepush.Error {
	e := &offlinepush.Error{Vendor: vendorName, Code: strconv.Itoa(code)}
	if desc != "" {
		e.Err = errors.New(desc)
	}
	switch code {
	case codeAuthFailed:
		e.Kind = offlinepush.KindAuth // Send refreshes once before returning it
	case 10070, 10071, 10073:
		e.Kind = offlinepush.KindQuota
	case 10072:
		e.Kind = offlinepush.KindRetry
	case 10094:
		e.Kind = offlinepush.KindAuth
	case 10302:
		e.Kind = offlinepush.KindTokenInvalid
	default: // 10050-10069 parameters, content refused, and unknown codes
		e.Kind = offlinepush.KindPayload
	}
	return e
}

// invalidToken returns err if it is vivo's authentication-failed answer.
func invalidToken(err error) *offlinepush.Error {
	var e *offlinepush.Error
	if errors.As(err, &e) && e.Code == strconv.Itoa(codeAuthFailed) {
		return e
	}
	return nil
}

// malformed is an answer that is not vivo's JSON: a proxy's error page or a
// truncated body, most likely transient.
func malformed(body []byte, err error) *offlinepush.Error {
	if err == nil {
		err = errors.New("vivo: answer without result or token: " + offlinepush.Snippet(body))
	}
	return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindRetry, Code: "malformed_answer", Err: err}
}

// post sends v as JSON to u and returns the body of a 2xx answer; anything
// else is an *offlinepush.Error. token, if set, goes in the authToken header.
func (c *Client) post(ctx context.Context, u string, v any, token string) ([]byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindPayload, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return nil, &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindAuth, Err: err}
	}
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	if token != "" {
		req.Header["authToken"] = []string{token} // vivo's spelling, not canonicalized
	}
	resp, body, err := offlinepush.Do(c.cfg.HTTPClient, req, vendorName, maxAnswer)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, offlinepush.StatusError(vendorName, resp, body, c.cfg.Now())
	}
	return body, nil
}
