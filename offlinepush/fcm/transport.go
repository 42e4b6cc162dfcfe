package fcm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
)

// The Firebase SDK retries a request that failed to connect or was
// answered 503, up to four times with back-off, and offers no option to
// stop it. Loft's queue does the retrying, so oneShot, the SDK's
// transport, lets each Send make exactly one HTTP request: after it, it
// cancels the context the SDK waits on before a retry, and the SDK gives
// up at once. oneShot also adds the access token and keeps the answer,
// whose status and body the SDK's error does not always carry.

// attemptKey is the context key of a Send's *attempt.
type attemptKey struct{}

// attempt is the one HTTP exchange of one Send.
type attempt struct {
	token  string             // the OAuth 2.0 access token to send
	cancel context.CancelFunc // ends the context the SDK retries on

	mu     sync.Mutex
	sent   bool        // guarded by mu
	status int         // guarded by mu
	header http.Header // guarded by mu
	body   []byte      // guarded by mu
	err    error       // guarded by mu: the transport's error, if any
}

// oneShot is the http.RoundTripper handed to the SDK.
type oneShot struct {
	hc *http.Client // Config.HTTPClient
}

var errRetried = errors.New("fcm: the SDK tried a second request in one Send")

func (t oneShot) RoundTrip(req *http.Request) (*http.Response, error) {
	a, ok := req.Context().Value(attemptKey{}).(*attempt)
	if !ok {
		return nil, errors.New("fcm: request made outside Send")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sent {
		return nil, errRetried
	}
	a.sent = true
	defer a.cancel()

	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := t.hc.Do(r)
	if err != nil {
		a.err = err
		return nil, err
	}
	// Read the body before cancel ends the request's context.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		a.err = err
		return nil, err
	}
	a.status, a.header, a.body = resp.StatusCode, resp.Header, body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// result returns what the one request got: its transport error, or the
// status, headers and body of FCM's answer; sent is false when the SDK
// made no request.
func (a *attempt) result() (sent bool, status int, header http.Header, body []byte, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sent, a.status, a.header, a.body, a.err
}

// apiError is the error body of Google APIs, FCM's included ("FCM error
// codes" in the FCM HTTP v1 reference).
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type            string `json:"@type"`
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field       string `json:"field"`
				Description string `json:"description"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

const fcmErrorType = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

func parseAPIError(body []byte) apiError {
	var e apiError
	_ = json.Unmarshal(body, &e) // a body that is not JSON leaves the status to decide
	return e
}

// code is FCM's own error code (the FcmError detail), else the Google API
// status, for Error.Code.
func (e apiError) code() string {
	for _, d := range e.Error.Details {
		if d.Type == fcmErrorType && d.ErrorCode != "" {
			return d.ErrorCode
		}
	}
	return e.Error.Status
}

// badToken reports whether an INVALID_ARGUMENT names the registration
// token: FCM says so in the message or in a BadRequest field violation.
func (e apiError) badToken() bool {
	if strings.Contains(strings.ToLower(e.Error.Message), "registration token") {
		return true
	}
	for _, d := range e.Error.Details {
		for _, v := range d.FieldViolations {
			if v.Field == "message.token" {
				return true
			}
		}
	}
	return false
}
