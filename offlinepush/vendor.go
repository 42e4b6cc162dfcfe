package offlinepush

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Vendor sends notifications through one push service (FCM, APNs, Huawei,
// ...). Each lives in its own sub-package, takes its credentials and base
// URL from its own Config, and never imports another vendor.
//
// Send delivers one notification to one device token. It must respect ctx,
// never retry by itself (the queue retries, with backoff), and return nil
// only when the vendor accepted the notification; every failure is an
// *Error saying what the queue should do about it.
type Vendor interface {
	Name() string
	Send(ctx context.Context, n *Notification) error
}

// Notification is one push to one device, rendered: the vendor adapter only
// maps it to its own payload format and cuts it to its own size limit.
type Notification struct {
	Token    string // the device's push token for this vendor
	Platform string // the device's platform: "ios", "android", "web", ...
	// Credential names which of several configured apps or certificates of
	// the vendor to use; "" is the default one.
	Credential string

	// Title and Body are shown to the user; both empty for a data-only
	// (silent) push, which wakes the app without showing anything.
	Title string
	Body  string
	// Data reaches the app with the push. Loft always sets "conv", "seq"
	// and "msg_id" (as decimal strings) so that the app syncs from Loft
	// on wake: a push is a wake-up, not the message store.
	Data map[string]string
	// Badge is the app icon's number (the user's unread count); nil leaves
	// it as it is.
	Badge *int
	// CollapseKey makes a newer push of the same key replace an older one
	// instead of stacking (one per conversation): FCM collapse_key and
	// notification tag, APNs apns-collapse-id and thread-id, and each
	// vendor's own equivalent where it has one.
	CollapseKey string
	// Silent asks for a background push with no alert even if Title or Body
	// are set (APNs content-available without alert; FCM data-only).
	Silent bool
	// Sound is the sound name, "" for the default ("default" on APNs when
	// the push alerts), ignored for silent pushes.
	Sound string
	// TTL is how long the vendor should keep trying to deliver the push;
	// 0 means the vendor's default.
	TTL time.Duration
	// High asks for high priority delivery (wakes the device at once);
	// silent pushes are normal priority where the vendor requires it.
	High bool
}

// ErrorKind says what the queue does about a failed Send.
type ErrorKind int

const (
	// KindRetry: a transient failure (429, 5xx, a timeout, a connection
	// error): retry with backoff, no sooner than RetryAfter.
	KindRetry ErrorKind = iota + 1
	// KindQuota: the app is over its vendor quota: retry much later.
	KindQuota
	// KindTokenInvalid: the vendor says the token is unregistered,
	// expired or not a token of this app: remove the token.
	KindTokenInvalid
	// KindPayload: the vendor refused this notification (too large, bad
	// field): drop it, keep the token.
	KindPayload
	// KindAuth: credentials or configuration are wrong (401/403, bad key,
	// unknown app id): keep the token, stop using the vendor until
	// reconfigured, and alert.
	KindAuth
)

func (k ErrorKind) String() string {
	switch k {
	case KindRetry:
		return "retry"
	case KindQuota:
		return "quota"
	case KindTokenInvalid:
		return "token_invalid"
	case KindPayload:
		return "payload"
	case KindAuth:
		return "auth"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Error is a failed Send.
type Error struct {
	Vendor     string
	Kind       ErrorKind
	Status     int           // the HTTP status, 0 if none
	Code       string        // the vendor's own error code or reason, as it sent it
	RetryAfter time.Duration // the vendor's Retry-After, 0 if none
	Err        error         // the underlying error, if any
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("offlinepush: %s: %s", e.Vendor, e.Kind)
	if e.Status != 0 {
		msg += " (HTTP " + strconv.Itoa(e.Status) + ")"
	}
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of a Send error: an *Error's kind, KindRetry for
// a context deadline or any other error (a connection that failed).
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindRetry
}

// ParseRetryAfter reads an HTTP Retry-After value: seconds or an HTTP date.
// It returns 0 for an empty or unreadable value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := time.Parse(time.RFC1123, v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Truncate cuts s to at most n bytes without splitting a UTF-8 character,
// ending it with "…" when it cut anything. Adapters use it to fit a
// vendor's payload limit: a long preview is cut, never refused.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	if n < len(ellipsis) {
		return ""
	}
	cut := n - len(ellipsis)
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut-- // do not split a character
	}
	return s[:cut] + ellipsis
}

// ByCredential is one vendor with several apps or certificates (an app
// with a separate iPad build, a white-label app): it sends each push
// through the one its Notification.Credential names, "" the default.
type ByCredential struct {
	Default Vendor            // for Credential ""; may be nil
	Named   map[string]Vendor // by credential name
}

// Name implements Vendor: the vendor's name.
func (b *ByCredential) Name() string {
	if b.Default != nil {
		return b.Default.Name()
	}
	for _, v := range b.Named {
		return v.Name()
	}
	return ""
}

// Send implements Vendor. An unknown credential is a configuration error
// of this push alone: KindPayload, so the token stays.
func (b *ByCredential) Send(ctx context.Context, n *Notification) error {
	v := b.Default
	if n.Credential != "" {
		v = b.Named[n.Credential]
	}
	if v == nil {
		return &Error{Vendor: b.Name(), Kind: KindPayload, Code: "unknown credential " + strconv.Quote(n.Credential)}
	}
	return v.Send(ctx, n)
}
