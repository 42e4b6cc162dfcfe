package offlinepush

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// Do sends req with hc and returns the answer and at most limit bytes of
// its body, which it closes. A request that fails, or a body that cannot
// be read, is a KindRetry *Error of vendor (with the answer's status in the
// second case): a connection problem, most likely transient. Any status is
// an answer: judging it is the caller's part.
func Do(hc *http.Client, req *http.Request, vendor string, limit int64) (*http.Response, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, &Error{Vendor: vendor, Kind: KindRetry, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, nil, &Error{Vendor: vendor, Kind: KindRetry, Status: resp.StatusCode, Err: err}
	}
	return resp, body, nil
}

// StatusKind is what an HTTP status says when the vendor's answer says
// nothing more specific: 429 and 5xx are KindRetry; 401, 403 and 404
// (wrong credentials, or a wrong base URL) are KindAuth; any other status
// is KindPayload, the vendor refused this push.
func StatusKind(status int) ErrorKind {
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		return KindRetry
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
		return KindAuth
	}
	return KindPayload
}

// StatusError is the *Error of vendor for an answer whose HTTP status says
// all there is: its Kind is StatusKind's, a KindRetry waits for the
// answer's Retry-After (read at now), and Err quotes the Snippet of body.
func StatusError(vendor string, resp *http.Response, body []byte, now time.Time) *Error {
	e := &Error{Vendor: vendor, Kind: StatusKind(resp.StatusCode), Status: resp.StatusCode, Err: errors.New(Snippet(body))}
	if e.Kind == KindRetry {
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return e
}

// Snippet is the start of an answer's body, at most 200 bytes, for an
// error message.
func Snippet(body []byte) string {
	return Truncate(string(body), 200)
}
