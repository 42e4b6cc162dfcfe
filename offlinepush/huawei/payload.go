package huawei

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

const (
	// MaxMessageSize is Push Kit's limit on the message body, not counting
	// the tokens: larger messages are refused with 80300008.
	MaxMessageSize = 4096
	// maxTTL is the longest android.ttl Push Kit accepts (15 days).
	maxTTL = 15 * 24 * time.Hour
	// maxBadge is the largest badge number Push Kit accepts (set_num < 100).
	maxBadge = 99
	// clickOpenApp is click_action.type 3: tapping opens the app.
	clickOpenApp = 3
)

// ErrPayloadTooLarge is returned (as the Err of a KindPayload error) when
// the notification's Data alone does not fit in MaxMessageSize, so cutting
// the title and body cannot make the message small enough.
var ErrPayloadTooLarge = errors.New("huawei: data does not fit in the 4096-byte message limit")

// sendRequest is the body of POST /v1/{appId}/messages:send.
type sendRequest struct {
	ValidateOnly bool    `json:"validate_only"`
	Message      message `json:"message"`
}

type message struct {
	// Data is the app's payload: Loft's Data map as a JSON object string.
	Data    string         `json:"data"`
	Android *androidConfig `json:"android,omitempty"`
	// Token is left out only while measuring: the size limit excludes it.
	Token []string `json:"token,omitempty"`
}

type androidConfig struct {
	Urgency  string `json:"urgency,omitempty"`
	Category string `json:"category,omitempty"`
	TTL      string `json:"ttl,omitempty"`
	// Notification makes this a notification message; without it the
	// message is a data (pass-through) message that only wakes the app.
	Notification *androidNotification `json:"notification,omitempty"`
}

type androidNotification struct {
	Title        string      `json:"title"`
	Body         string      `json:"body"`
	ClickAction  clickAction `json:"click_action"`
	Tag          string      `json:"tag,omitempty"`
	Sound        string      `json:"sound,omitempty"`
	DefaultSound *bool       `json:"default_sound,omitempty"`
	Badge        *badge      `json:"badge,omitempty"`
}

type clickAction struct {
	Type int `json:"type"`
}

type badge struct {
	Class  string `json:"class"`
	SetNum int    `json:"set_num"`
}

// buildRequest maps n to Push Kit's request and cuts the title and body so
// that the message stays within MaxMessageSize. It returns the encoded body.
func (c *Client) buildRequest(n *offlinepush.Notification) ([]byte, error) {
	data, err := encodeData(n.Data)
	if err != nil {
		return nil, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindPayload, Err: err}
	}
	android := &androidConfig{
		Urgency:  "NORMAL",
		Category: c.cfg.Category,
		TTL:      ttl(n.TTL),
	}
	if n.High {
		android.Urgency = "HIGH"
	}
	req := sendRequest{Message: message{Data: data, Android: android}}

	title, body := n.Title, n.Body
	if !n.Silent && (title != "" || body != "") {
		// Push Kit wants both for a notification: repeat the one we have.
		if title == "" {
			title = body
		}
		if body == "" {
			body = title
		}
		an := &androidNotification{
			ClickAction: clickAction{Type: clickOpenApp},
			Tag:         n.CollapseKey,
		}
		if n.Sound != "" && n.Sound != "default" {
			off := false
			an.Sound, an.DefaultSound = rawSound(n.Sound), &off
		}
		if n.Badge != nil && c.cfg.BadgeClass != "" {
			an.Badge = &badge{Class: c.cfg.BadgeClass, SetNum: min(max(*n.Badge, 0), maxBadge)}
		}
		android.Notification = an
		measure := func() (int, error) {
			an.Title, an.Body = title, body
			b, err := offlinepush.EncodeJSON(req)
			return len(b), err
		}
		if err := fit(MaxMessageSize, &title, &body, measure); err != nil {
			return nil, err
		}
		an.Title, an.Body = title, body
	} else if b, err := offlinepush.EncodeJSON(req); err != nil {
		return nil, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindPayload, Err: err}
	} else if len(b) > MaxMessageSize {
		return nil, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindPayload, Err: ErrPayloadTooLarge}
	}

	req.Message.Token = []string{n.Token}
	b, err := offlinepush.EncodeJSON(req)
	if err != nil {
		return nil, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindPayload, Err: err}
	}
	return b, nil
}

// fit cuts body, then title, each to the longest prefix that fits, with
// offlinepush.FitPreview until size reports at most limit bytes. A title
// longer than a quarter of the limit is cut to that first, so that a huge
// title does not leave no room for the body.
func fit(limit int, title, body *string, size func() (int, error)) error {
	var sizeErr error // the first error of size: it fails the fit
	fits := func() bool {
		n, err := size()
		if err != nil && sizeErr == nil {
			sizeErr = err
		}
		return n <= limit && sizeErr == nil
	}
	if !fits() && sizeErr == nil && len(*title) > limit/4 {
		*title = offlinepush.Truncate(*title, limit/4)
	}
	ok := offlinepush.FitPreview(title, body, fits)
	if sizeErr != nil {
		return payloadErr(sizeErr)
	}
	if !ok {
		return payloadErr(ErrPayloadTooLarge)
	}
	return nil
}

func payloadErr(err error) error {
	if err == nil {
		return nil
	}
	return &offlinepush.Error{Vendor: name, Kind: offlinepush.KindPayload, Err: err}
}

// encodeData renders the Data map as the JSON object string message.data
// carries; an empty map is "{}" so the app always finds an object.
func encodeData(d map[string]string) (string, error) {
	if d == nil {
		d = map[string]string{}
	}
	b, err := offlinepush.EncodeJSON(d)
	return string(b), err
}

// ttl renders a TTL as Push Kit's "<seconds>s", capped at 15 days; "" for
// the default (one day).
func ttl(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	d = min(d, maxTTL)
	secs := int64((d + time.Second - 1) / time.Second) // at least 1s
	return strconv.FormatInt(secs, 10) + "s"
}

// rawSound names a sound file in the app's res/raw, as Push Kit expects.
func rawSound(s string) string {
	if strings.HasPrefix(s, "/raw/") {
		return s
	}
	return "/raw/" + s
}
