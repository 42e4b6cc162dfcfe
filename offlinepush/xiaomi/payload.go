package xiaomi

import (
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

const (
	// MaxTitle and MaxDescription are MiPush's limits on title and
	// description, in characters ("less than 50" and "less than 128", each
	// Chinese or Latin character counting one).
	MaxTitle       = 49
	MaxDescription = 127
	// MaxPayload is MiPush's limit on payload: less than 4 K characters.
	// Send counts bytes, which are never fewer than characters.
	MaxPayload = 4095
	// maxTTL is the longest time_to_live MiPush keeps a message (two weeks).
	maxTTL = 14 * 24 * time.Hour
	// notifyTypeAll is notify_type DEFAULT_ALL: sound, vibration and light.
	notifyTypeAll = "-1"
	// maxNotifyID is the largest notify_id MiPush accepts.
	maxNotifyID = 1<<31 - 1
)

// ErrPayloadTooLarge is returned (as the Err of a KindPayload error) when
// the notification's Data, which travels as payload and cannot be cut,
// exceeds MaxPayload.
var ErrPayloadTooLarge = errors.New("xiaomi: data exceeds the 4 K payload limit")

// buildForm maps n to the form fields of POST /v3/message/regid.
func (c *Client) buildForm(n *offlinepush.Notification) (url.Values, error) {
	d := n.Data
	if d == nil {
		d = map[string]string{}
	}
	payload, err := json.Marshal(d)
	if err != nil {
		return nil, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindPayload, Err: err}
	}
	if len(payload) > MaxPayload {
		return nil, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindPayload, Err: ErrPayloadTooLarge}
	}
	form := url.Values{
		"registration_id":         {n.Token},
		"restricted_package_name": {c.cfg.PackageName},
		"payload":                 {string(payload)},
	}
	if n.TTL > 0 {
		form.Set("time_to_live", strconv.FormatInt(min(n.TTL, maxTTL).Milliseconds(), 10))
	}

	title, body := strings.TrimSpace(n.Title), strings.TrimSpace(n.Body)
	if n.Silent || (title == "" && body == "") {
		form.Set("pass_through", "1") // delivered to the app, nothing shown
		return form, nil
	}
	// MiPush requires both, and neither may be all blank.
	if title == "" {
		title = body
	}
	if body == "" {
		body = title
	}
	form.Set("pass_through", "0")
	form.Set("title", offlinepush.TruncateRunes(title, MaxTitle))
	form.Set("description", offlinepush.TruncateRunes(body, MaxDescription))
	form.Set("notify_type", notifyTypeAll)
	if id, ok := notifyID(n); ok {
		form.Set("notify_id", strconv.FormatUint(uint64(id), 10))
	}
	if c.cfg.ChannelID != "" {
		form.Set("extra.channel_id", c.cfg.ChannelID)
	}
	if n.Sound != "" && n.Sound != "default" {
		form.Set("extra.sound_uri", "android.resource://"+c.cfg.PackageName+"/raw/"+n.Sound)
	}
	return form, nil
}

// notifyID picks notify_id: MiPush shows one notification per notify_id,
// a newer one replacing the older. The CollapseKey gives one per
// conversation; without one, the message ID keeps each push on screen
// (MiPush's default would show only the latest push of the app).
func notifyID(n *offlinepush.Notification) (uint32, bool) {
	key := n.CollapseKey
	if key == "" {
		key = n.Data["msg_id"]
	}
	if key == "" {
		return 0, false
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32() & maxNotifyID, true
}
