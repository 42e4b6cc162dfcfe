package apns

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

const (
	// MaxPayload is APNs' limit on a regular remote notification's JSON
	// payload, in bytes; PayloadTooLarge (413) past it.
	MaxPayload = 4096
	// maxCollapseID is APNs' limit on apns-collapse-id, in bytes.
	maxCollapseID = 64
)

// errDataTooLarge is returned when Data alone does not fit MaxPayload:
// only the preview is ever cut, never the data the app syncs with.
var errDataTooLarge = errors.New("apns: data does not fit the 4096-byte payload")

// aps is the dictionary Apple reserves in the payload.
type aps struct {
	Alert            *alert `json:"alert,omitempty"`
	Badge            *int   `json:"badge,omitempty"`
	Sound            string `json:"sound,omitempty"`
	ThreadID         string `json:"thread-id,omitempty"`
	ContentAvailable int    `json:"content-available,omitempty"`
}

type alert struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
}

// request is one notification rendered for APNs: headers and payload.
type request struct {
	pushType   string // "alert" or "background"
	priority   string // "10" or "5"
	expiration string // unix seconds, "" for APNs' default
	collapseID string
	payload    []byte
}

// render maps n to APNs' headers and payload, cutting the preview to fit
// MaxPayload.
func render(n *offlinepush.Notification, now time.Time) (*request, error) {
	silent := n.Silent || (n.Title == "" && n.Body == "")
	r := &request{pushType: "alert", priority: "5"}
	a := &aps{}
	if silent {
		// A background push may carry no alert, sound or badge, and APNs
		// refuses priority 10 for it.
		r.pushType = "background"
		a.ContentAvailable = 1
	} else {
		if n.High {
			r.priority = "10"
		}
		a.Alert = &alert{Title: n.Title, Body: n.Body}
		a.Badge = n.Badge
		a.ThreadID = collapseID(n.CollapseKey)
		a.Sound = n.Sound
		if a.Sound == "" {
			a.Sound = "default"
		}
	}
	if n.TTL > 0 {
		r.expiration = strconv.FormatInt(now.Add(n.TTL).Unix(), 10)
	}
	r.collapseID = collapseID(n.CollapseKey)

	// Data keys sit beside "aps" at the top level; "aps" itself is Apple's.
	p := make(map[string]any, len(n.Data)+1)
	for k, v := range n.Data {
		if k != "aps" {
			p[k] = v
		}
	}
	p["aps"] = a
	b, err := fit(p, a.Alert)
	if err != nil {
		return nil, err
	}
	r.payload = b
	return r, nil
}

// fit encodes p, cutting al's title and body until the payload is at most
// MaxPayload bytes.
func fit(p map[string]any, al *alert) ([]byte, error) {
	for {
		b, err := offlinepush.EncodeJSON(p)
		if err != nil {
			return nil, err
		}
		over := len(b) - MaxPayload
		if over <= 0 {
			return b, nil
		}
		if al == nil || (al.Title == "" && al.Body == "") {
			return nil, errDataTooLarge
		}
		offlinepush.ShrinkPair(&al.Title, &al.Body, over, jsonLen)
	}
}

// jsonLen is the length of s encoded as a JSON string by EncodeJSON, quotes
// included.
func jsonLen(s string) int {
	b, _ := offlinepush.EncodeJSON(s)
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
