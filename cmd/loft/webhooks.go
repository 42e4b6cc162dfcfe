package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/loftchat/loft/chat/events"
	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/presence"
)

// Event types Loft POSTs to the --webhooks endpoints (docs/http-api.md).
const (
	evMessageStored   = "message.stored"    // a message or event was stored (durable)
	evPushSent        = "push.sent"         // a vendor accepted a push
	evPushFailed      = "push.failed"       // a push was given up
	evDeviceKicked    = "device.kicked"     // a device was kicked (device limit or the API)
	evDeviceLoggedOut = "device.logged_out" // a device logged out, or was logged out
	evUserOnline      = "user.online"       // a user's first device connected
	evUserOffline     = "user.offline"      // a user's last device disconnected
)

var eventTypes = []string{evMessageStored, evPushSent, evPushFailed, evDeviceKicked, evDeviceLoggedOut, evUserOnline, evUserOffline}

// loadWebhooks reads the --webhooks file, strictly:
//
//	{"endpoints": [{"url": "https://...", "secret": "16+ bytes", "types": ["message.stored"]}]}
//
// No file: no endpoints.
func loadWebhooks(path string) ([]events.Endpoint, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	var file struct {
		Endpoints []struct {
			URL    string   `json:"url"`
			Secret string   `json:"secret"`
			Types  []string `json:"types"`
		} `json:"endpoints"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("webhooks %s: %w", path, err)
	}
	var eps []events.Endpoint
	for i, e := range file.Endpoints {
		for _, t := range e.Types {
			if !slices.Contains(eventTypes, t) {
				return nil, fmt.Errorf("webhooks %s: endpoint %d: unknown event type %q (known: %v)", path, i, t, eventTypes)
			}
		}
		eps = append(eps, events.Endpoint{URL: e.URL, Secret: e.Secret, Types: e.Types})
	}
	return eps, nil
}

// emitter turns the server's hooks into events. Every method only hands
// off (events.Queue.Post): the hooks it serves must not block.
type emitter struct{ q *events.Queue }

// messageEvent is the data of message.stored; it is encoded later, on the
// flusher, from the message the store no longer changes.
type messageEvent struct{ m *history.Message }

// MarshalJSON encodes the message's fields and appends its body (JSON the
// store took) as it is: json.Marshal would compact it into a copy, most of
// the work on a busy server, and the queue checks the result anyway.
func (e messageEvent) MarshalJSON() ([]byte, error) {
	m := e.m
	b, err := json.Marshal(struct {
		ID       uint64 `json:"id"`
		Conv     string `json:"conv"`
		Seq      uint64 `json:"seq"`
		From     string `json:"from"`
		Device   string `json:"device,omitempty"`
		ClientID string `json:"client_id,omitempty"`
		Kind     string `json:"kind,omitempty"`
		Ref      uint64 `json:"ref,omitempty"`
		Time     int64  `json:"time"`
	}{m.ID, m.Conv, m.Seq, m.From, m.Device, m.ClientID, m.Kind, m.Ref, m.Time})
	if err != nil {
		return nil, err
	}
	body := m.Body
	if len(body) == 0 {
		body = json.RawMessage("null")
	}
	b = append(b[:len(b)-1], `,"body":`...)
	b = append(b, body...)
	return append(b, '}'), nil
}

func (em emitter) committed(batch []history.Appended) {
	if !em.q.Wants(evMessageStored) {
		return
	}
	for _, a := range batch {
		em.q.Post(evMessageStored, time.UnixMilli(a.Message.Time), messageEvent{a.Message})
	}
}

func (em emitter) outcome(o offlinepush.Outcome) {
	typ := evPushSent
	switch o.Status {
	case offlinepush.StatusPushed:
	case offlinepush.StatusFailed:
		typ = evPushFailed
	default:
		return
	}
	data := struct {
		MsgID        string `json:"msg_id"` // a string: push ids are above 2^53
		User         string `json:"user"`
		Device       string `json:"device"`
		Vendor       string `json:"vendor,omitempty"`
		Reason       string `json:"reason,omitempty"`
		Silent       bool   `json:"silent,omitempty"`
		TokenRemoved bool   `json:"token_removed,omitempty"`
		Attempts     int    `json:"attempts,omitempty"`
	}{strconv.FormatUint(o.MsgID, 10), o.User, o.Device, o.Vendor, o.Reason, o.Silent, o.TokenRemoved, o.Attempts}
	em.q.Post(typ, time.UnixMilli(o.At), data)
}

func (em emitter) deviceState(user, device string, state history.DeviceState, unbind bool) {
	typ := evDeviceLoggedOut
	if state == history.DeviceKicked {
		typ = evDeviceKicked
	}
	em.q.Post(typ, time.Time{}, struct {
		User       string `json:"user"`
		Device     string `json:"device"`
		UnbindPush bool   `json:"unbind_push"`
	}{user, device, unbind})
}

func (em emitter) presence(c presence.Change) {
	if c.Online {
		em.q.Post(evUserOnline, time.Time{}, struct {
			User string `json:"user"`
		}{c.User})
		return
	}
	em.q.Post(evUserOffline, c.LastSeen, struct {
		User     string `json:"user"`
		LastSeen int64  `json:"last_seen"`
	}{c.User, c.LastSeen.UnixMilli()})
}
