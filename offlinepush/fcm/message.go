package fcm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"strconv"
	"strings"
	"time"

	"firebase.google.com/go/v4/messaging"

	"github.com/loftchat/loft/offlinepush"
)

const (
	// MaxPayload is FCM's limit on a message's payload, in bytes. Send keeps
	// the whole message under it, a stricter bound than FCM's (which counts
	// only the notification and data), so that FCM never refuses a push as
	// too big.
	MaxPayload = 4096
	// maxTTL is the longest time to live FCM accepts: 4 weeks.
	maxTTL = 28 * 24 * time.Hour
	// maxCollapseID is APNs' limit on apns-collapse-id, in bytes.
	maxCollapseID = 64
)

// errDataTooLarge is returned when Data alone does not fit MaxPayload:
// only the preview is ever cut, never the data the app syncs with.
var errDataTooLarge = errors.New("fcm: data does not fit the 4096-byte payload")

// message maps n to an FCM v1 message with an android block for Android
// devices and an apns block for Apple ones (both when the platform is not
// known), cut to fit MaxPayload.
func message(n *offlinepush.Notification, now time.Time) (*messaging.Message, error) {
	silent := n.Silent || (n.Title == "" && n.Body == "")
	m := &messaging.Message{Token: n.Token, Data: maps.Clone(n.Data)}
	if !silent {
		m.Notification = &messaging.Notification{Title: n.Title, Body: n.Body}
	}
	ttl := min(n.TTL, maxTTL)
	sound := n.Sound
	if sound == "" {
		sound = "default"
	}
	platform := strings.ToLower(n.Platform)

	if platform != "ios" {
		a := &messaging.AndroidConfig{CollapseKey: n.CollapseKey, Priority: "normal"}
		if n.High {
			a.Priority = "high"
		}
		if ttl > 0 {
			a.TTL = &ttl
		}
		if !silent {
			// The tag makes a newer notification of the conversation replace
			// the shown one; notification_count is Android's badge.
			a.Notification = &messaging.AndroidNotification{Tag: n.CollapseKey, Sound: sound, NotificationCount: n.Badge}
		}
		m.Android = a
	}

	if platform != "android" {
		h := map[string]string{}
		aps := &messaging.Aps{}
		if silent {
			// APNs' rules for a background push: content-available, no
			// alert, sound or badge, priority 5.
			aps.ContentAvailable = true
			h["apns-push-type"] = "background"
			h["apns-priority"] = "5"
		} else {
			aps.Badge = n.Badge
			aps.Sound = sound
			aps.ThreadID = collapseID(n.CollapseKey)
			h["apns-push-type"] = "alert"
			h["apns-priority"] = "5"
			if n.High {
				h["apns-priority"] = "10"
			}
		}
		if n.CollapseKey != "" {
			h["apns-collapse-id"] = collapseID(n.CollapseKey)
		}
		if ttl > 0 {
			h["apns-expiration"] = strconv.FormatInt(now.Add(ttl).Unix(), 10)
		}
		m.APNS = &messaging.APNSConfig{Headers: h, Payload: &messaging.APNSPayload{Aps: aps}}
	}
	return m, fit(m)
}

// fit cuts m's title and body until m encodes to at most MaxPayload bytes,
// as the SDK encodes it.
func fit(m *messaging.Message) error {
	for {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		over := len(b) - MaxPayload
		if over <= 0 {
			return nil
		}
		if m.Notification == nil || (m.Notification.Title == "" && m.Notification.Body == "") {
			return errDataTooLarge
		}
		offlinepush.ShrinkPair(&m.Notification.Title, &m.Notification.Body, over, jsonLen)
	}
}

// jsonLen is the length of s encoded as a JSON string by encoding/json,
// which the SDK uses: quotes included, "<", ">" and "&" escaped.
func jsonLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b)
}

// collapseID returns key if it fits apns-collapse-id's 64 bytes, else its
// SHA-256 in hex (64 bytes), so that the same key still collapses.
func collapseID(key string) string {
	if len(key) <= maxCollapseID {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
