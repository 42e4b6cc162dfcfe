package oppo

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/loftchat/loft/offlinepush"
)

// maxAnswer bounds how much of an answer is read: OPPO's are small.
const maxAnswer = 1 << 20

// codeInvalidToken is OPPO's "Invalid AuthToken".
const codeInvalidToken = 11

// apiResponse is every OPPO answer: {"code":..,"message":..,"data":..}.
type apiResponse struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func (r *apiResponse) hasCode() bool {
	_, err := strconv.Atoi(strings.Trim(string(r.Code), `"`))
	return err == nil
}

// code reads code as a number whether OPPO sent 11 or "11".
func (r *apiResponse) code() int {
	n, _ := strconv.Atoi(strings.Trim(string(r.Code), `"`))
	return n
}

// data returns data as a JSON object: OPPO has been seen to send it as a
// string holding the object.
func (r *apiResponse) data() []byte {
	var s string
	if json.Unmarshal(r.Data, &s) == nil {
		return []byte(s)
	}
	return r.Data
}

// codeError maps OPPO's code to an *offlinepush.Error (see doc.go).
func codeError(code int, message string) *offlinepush.Error {
	e := &offlinepush.Error{Vendor: vendorName, Code: strconv.Itoa(code)}
	if message != "" {
		e.Err = errors.New(message)
	}
	switch {
	case code == -1, code == -2, code == 55:
		e.Kind = offlinepush.KindRetry
	case code == codeInvalidToken:
		e.Kind = offlinepush.KindAuth // Send refreshes once before returning it
	case code == 13, code == 33, code == 34:
		e.Kind = offlinepush.KindQuota
	case code >= 14 && code <= 19, code >= 26 && code <= 30, code == 59, code == 67:
		e.Kind = offlinepush.KindAuth
	case code == 10000:
		e.Kind = offlinepush.KindTokenInvalid
	default:
		e.Kind = offlinepush.KindPayload
	}
	return e
}

// invalidToken returns err if it is OPPO's invalid auth_token answer.
func invalidToken(err error) *offlinepush.Error {
	var e *offlinepush.Error
	if errors.As(err, &e) && e.Code == strconv.Itoa(codeInvalidToken) {
		return e
	}
	return nil
}

// malformed is an answer that is not OPPO's JSON: a proxy's error page or a
// truncated body, most likely transient.
func malformed(body []byte, err error) *offlinepush.Error {
	if err == nil {
		err = errors.New("oppo: answer without code or data: " + offlinepush.Snippet(body))
	}
	return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindRetry, Code: "malformed_answer", Err: err}
}

// post sends form to u and returns the body of a 2xx answer; anything else
// is an *offlinepush.Error. token, if set, also goes in the auth_token
// header.
func (c *Client) post(ctx context.Context, u string, form url.Values, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindAuth, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
	if token != "" {
		req.Header["auth_token"] = []string{token} // OPPO's spelling, not canonicalized
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
