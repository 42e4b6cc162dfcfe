package offlinepush

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestStatusKind(t *testing.T) {
	tests := []struct {
		status int
		want   ErrorKind
	}{
		{429, KindRetry}, {500, KindRetry}, {502, KindRetry}, {503, KindRetry},
		{401, KindAuth}, {403, KindAuth}, {404, KindAuth},
		{400, KindPayload}, {413, KindPayload}, {410, KindPayload}, {200, KindPayload}, {302, KindPayload},
	}
	for _, tt := range tests {
		if got := StatusKind(tt.status); got != tt.want {
			t.Errorf("StatusKind(%d) = %v, want %v", tt.status, got, tt.want)
		}
	}
}

func TestStatusError(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 300)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		kind       ErrorKind
		wait       time.Duration
		text       string
	}{
		{"busy", 503, "30", "busy", KindRetry, 30 * time.Second, "busy"},
		{"throttled at a date", 429, now.Add(time.Minute).Format(time.RFC1123), "", KindRetry, time.Minute, ""},
		{"Retry-After only for a retry", 400, "30", "bad", KindPayload, 0, "bad"},
		{"wrong URL", 404, "", "<html>not found</html>", KindAuth, 0, "<html>not found</html>"},
		{"long body quoted in part", 500, "", long, KindRetry, 0, Truncate(long, 200)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
			if tt.retryAfter != "" {
				resp.Header.Set("Retry-After", tt.retryAfter)
			}
			e := StatusError("test", resp, []byte(tt.body), now)
			if e.Vendor != "test" || e.Kind != tt.kind || e.Status != tt.status || e.RetryAfter != tt.wait || e.Err == nil || e.Err.Error() != tt.text {
				t.Errorf("StatusError = %+v, want kind %v retry after %v text %q", e, tt.kind, tt.wait, tt.text)
			}
		})
	}
}

func TestSnippet(t *testing.T) {
	if got := Snippet([]byte("short")); got != "short" {
		t.Errorf("Snippet kept %q", got)
	}
	got := Snippet([]byte(strings.Repeat("标", 100)))
	if len(got) > 200 || !strings.HasSuffix(got, "…") {
		t.Errorf("Snippet cut to %d bytes: %q", len(got), got)
	}
}

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, strings.Repeat("a", 1000))
		case "/cut":
			// A body shorter than its Content-Length: the read fails.
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
	}))
	defer srv.Close()
	get := func(tb testing.TB, path string) (*http.Response, []byte, error) {
		tb.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			tb.Fatal(err)
		}
		return Do(srv.Client(), req, "test", 100)
	}

	t.Run("any status is an answer, read up to the limit", func(t *testing.T) {
		resp, body, err := get(t, "/big")
		if err != nil || resp.StatusCode != http.StatusTeapot || string(body) != strings.Repeat("a", 100) {
			t.Errorf("Do = %v, %d bytes, %v", resp, len(body), err)
		}
	})
	t.Run("a body that cannot be read", func(t *testing.T) {
		_, _, err := get(t, "/cut")
		var e *Error
		if !errors.As(err, &e) || e.Vendor != "test" || e.Kind != KindRetry || e.Status != http.StatusOK || e.Err == nil {
			t.Errorf("Do = %v, want a KindRetry *Error with the status", err)
		}
	})
	t.Run("no connection", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
		_, _, err := Do(srv.Client(), req, "test", 100)
		var e *Error
		if !errors.As(err, &e) || e.Vendor != "test" || e.Kind != KindRetry || e.Status != 0 || e.Err == nil {
			t.Errorf("Do = %v, want a KindRetry *Error without a status", err)
		}
	})
}
