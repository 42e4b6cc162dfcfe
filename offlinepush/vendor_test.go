package offlinepush

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello world", 8, "hello…"},
		{"héllo", 4, "h…"}, // é is two bytes: not split
		{"abc", 2, ""},
	}
	for _, tt := range tests {
		got := Truncate(tt.in, tt.n)
		if got != tt.want || len(got) > tt.n || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestRetryAfterAndKind(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if d := ParseRetryAfter("120", now); d != 2*time.Minute {
		t.Errorf("seconds: %v", d)
	}
	if d := ParseRetryAfter(now.Add(30*time.Second).Format(time.RFC1123), now); d != 30*time.Second {
		t.Errorf("date: %v", d)
	}
	if d := ParseRetryAfter("soon", now); d != 0 {
		t.Errorf("garbage: %v", d)
	}
	err := error(&Error{Vendor: "fcm", Kind: KindTokenInvalid, Status: 404, Code: "UNREGISTERED"})
	if KindOf(err) != KindTokenInvalid || KindOf(errors.New("conn reset")) != KindRetry {
		t.Errorf("KindOf: %v", KindOf(err))
	}
	if err.Error() != "offlinepush: fcm: token_invalid (HTTP 404): UNREGISTERED" {
		t.Errorf("Error() = %q", err.Error())
	}
}
