package meizu

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

// maxAnswer bounds how much of an answer is read: Meizu's are small.
const maxAnswer = 1 << 20

// foldedWait is how long to wait after a folded push (code 520): Meizu
// folds a device's pushes beyond five a minute.
const foldedWait = time.Minute

// answer is every Meizu answer.
type answer struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Value   json.RawMessage `json:"value"`
	MsgID   string          `json:"msgId"`
}

// code reads code whether Meizu sent "200" or 200; "" if missing.
func (a *answer) code() string {
	s := strings.Trim(string(a.Code), `"`)
	if _, err := strconv.Atoi(s); err != nil {
		return ""
	}
	return s
}

// failed returns the result code of the first pushId value lists, "" if
// none failed. value is a map from code to pushIds, or "" or {} when all
// went through.
func (a *answer) failed() string {
	var m map[string][]string
	if json.Unmarshal(a.Value, &m) != nil {
		return ""
	}
	var codes []string
	for code, ids := range m {
		if len(ids) > 0 {
			codes = append(codes, code)
		}
	}
	if len(codes) == 0 {
		return ""
	}
	slices.Sort(codes)
	return codes[0]
}

// codeError maps Meizu's request code to an *offlinepush.Error (see doc.go).
func codeError(code, message string) *offlinepush.Error {
	e := &offlinepush.Error{Vendor: vendorName, Code: code}
	if message != "" {
		e.Err = errors.New(message)
	}
	switch code {
	case "300", "500", "1001", "1003", "110010":
		e.Kind = offlinepush.KindRetry
	case "1006", "110000", "110001", "110009":
		e.Kind = offlinepush.KindAuth
	case "110053":
		e.Kind = offlinepush.KindQuota
	default: // 1005, 110004 and unknown codes
		e.Kind = offlinepush.KindPayload
	}
	return e
}

// pushIDError maps a per-pushId result code of value (see doc.go).
func pushIDError(code string) *offlinepush.Error {
	e := &offlinepush.Error{Vendor: vendorName, Code: code}
	switch code {
	case "110002", "110003", "110005":
		e.Kind = offlinepush.KindTokenInvalid
	case "201":
		e.Kind = offlinepush.KindAuth
	case "501", "513", "519":
		e.Kind = offlinepush.KindRetry
	case "520":
		e.Kind = offlinepush.KindRetry
		e.RetryAfter = foldedWait
	default:
		e.Kind = offlinepush.KindPayload
	}
	return e
}

// post signs params, sends them to u and maps the answer: nil or an
// *offlinepush.Error.
func (c *Client) post(ctx context.Context, u string, params map[string]string) error {
	form := url.Values{"sign": {sign(params, c.cfg.AppSecret)}}
	for k, v := range params {
		form.Set(k, v)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindAuth, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
	resp, body, err := offlinepush.Do(c.cfg.HTTPClient, req, vendorName, maxAnswer)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return offlinepush.StatusError(vendorName, resp, body, c.cfg.Now())
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil || a.code() == "" {
		if err == nil {
			err = errors.New("meizu: answer without code: " + offlinepush.Snippet(body))
		}
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindRetry, Code: "malformed_answer", Err: err}
	}
	if code := a.code(); code != "200" {
		e := codeError(code, a.Message)
		if code == "110010" { // too fast: honor a Retry-After if Meizu sends one
			e.RetryAfter = offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
		}
		return e
	}
	if code := a.failed(); code != "" {
		return pushIDError(code)
	}
	return nil
}
