package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
)

// Frame types a client sends.
const (
	FrameAuth          = "auth"
	FrameSend          = "send"
	FrameSync          = "sync"
	FrameReceived      = "received"
	FrameHistory       = "history"
	FrameConversations = "conversations"
	FrameRead          = "read"
	FramePing          = "ping"

	FrameGroupCreate  = "group_create"
	FrameGroupAdd     = "group_add"
	FrameGroupRemove  = "group_remove"
	FrameGroupLeave   = "group_leave"
	FrameGroupRename  = "group_rename"
	FrameGroupRole    = "group_role"
	FrameGroupMembers = "group_members"
	FrameGroups       = "groups"
	FrameReceipts     = "receipts"

	FrameRecall = "recall"
	FrameEdit   = "edit"
	FrameDelete = "delete"

	FramePresenceSub   = "presence_sub"
	FramePresenceUnsub = "presence_unsub"
	FrameTyping        = "typing"

	FrameDevices      = "devices"
	FrameLogout       = "logout"
	FrameLogoutDevice = "logout_device"

	FramePushRegister   = "push_register"
	FramePushUnregister = "push_unregister"
	FramePushSettings   = "push_settings"
	FrameMute           = "mute"
	FramePushOpened     = "push_opened"
)

// inFrame is every field any client frame may carry. Decoding is strict:
// a field not listed here is a bad_frame.
type inFrame struct {
	Type string `json:"type"`
	ID   string `json:"id"`

	// auth
	Token    string `json:"token"`
	Device   string `json:"device"`
	Platform string `json:"platform"`

	// send. From and Sender are accepted and ignored: the sender is always
	// the session's user and device.
	To     string          `json:"to"`
	CID    string          `json:"cid"`
	Body   json.RawMessage `json:"body"`
	From   json.RawMessage `json:"from"`
	Sender json.RawMessage `json:"sender"`

	// sync, received; history (after: page forwards)
	After       *uint64 `json:"after"`
	Pts         *uint64 `json:"pts"`
	GroupsAfter *uint64 `json:"groups_after"`

	// history, read
	Conv   string  `json:"conv"`
	Before uint64  `json:"before"`
	Limit  int     `json:"limit"`
	Seq    *uint64 `json:"seq"`

	// groups, presence, typing, logout
	Name       string   `json:"name"`
	Users      []string `json:"users"`
	Role       string   `json:"role"`
	State      string   `json:"state"`
	UnbindPush *bool    `json:"unbind_push"`

	// push
	Vendor     string                `json:"vendor"`
	Credential string                `json:"credential"`
	Settings   *offlinepush.Settings `json:"settings"`
	Muted      *bool                 `json:"muted"`
	Until      uint64                `json:"until"`
	MsgID      *uint64               `json:"msg_id"`
}

// frameError is a client mistake answered with an error frame.
type frameError struct {
	code Code
	msg  string
}

func (e *frameError) Error() string { return string(e.code) + ": " + e.msg }

func badFrame(msg string) error { return &frameError{CodeBadFrame, msg} }

// decodeFrame parses one client frame strictly.
func decodeFrame(data []byte) (*inFrame, error) {
	if f, ok := decodeFrameFast(data); ok {
		return f, nil
	}
	return decodeFrameSlow(data)
}

// decodeFrameSlow parses any frame with encoding/json, and words the error.
func decodeFrameSlow(data []byte) (*inFrame, error) {
	if !utf8.Valid(data) {
		// encoding/json would replace the bad bytes in strings but keep
		// them in the body, which recipients get verbatim in text frames.
		return nil, badFrame("a frame must be valid UTF-8")
	}
	var f inFrame
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute):
			return nil, badFrame("field " + strconv.Quote(ute.Field) + " has the wrong type")
		case bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")):
			// Unknown fields and syntax errors: the decoder's text names
			// the field or offset and carries nothing secret.
			return nil, badFrame(err.Error())
		default:
			return nil, badFrame("a frame must be one JSON object")
		}
	}
	if dec.More() {
		return nil, badFrame("a frame must be one JSON object")
	}
	if f.Type == "" {
		return nil, badFrame(`missing "type"`)
	}
	if len(f.ID) > maxIDLen {
		return nil, badFrame(`"id" is longer than 64 bytes`)
	}
	return &f, nil
}

const maxIDLen = 64

// ValidID reports whether s is a valid user, device or client message id:
// 1-64 bytes of ASCII letters, digits and . _ - @. The set keeps ids safe in
// storage keys, conversation ids and JSON without escaping.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == '-' || c == '@':
		default:
			return false
		}
	}
	return true
}

// validConv reports whether s has the shape of a conversation id, so that
// it can be echoed without escaping.
func validConv(s string) bool {
	if len(s) == 0 || len(s) > 160 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			continue
		}
		if !ValidID(s[i : i+1]) {
			return false
		}
	}
	return true
}

// Outbound frames. Hot frames (messages, ack) are appended by hand: every
// string in them is a validated name, so none needs escaping.

func appendHead(b []byte, typ, id string) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if id != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, id)
	}
	return b
}

// appendString appends s as a JSON string; it escapes only when needed.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendUint(b []byte, key string, v uint64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, v, 10)
}

// encodedMessage is a message encoded once and shared by every recipient:
// body holds its JSON fields without the braces and the per-reader ones.
type encodedMessage struct {
	msg  *history.Message
	body []byte
}

func encodeMessage(m *history.Message) *encodedMessage {
	b := make([]byte, 0, 128+len(m.Conv)+len(m.From)+len(m.Device)+len(m.Body))
	b = append(b, `"id":`...)
	b = strconv.AppendUint(b, m.ID, 10)
	b = append(b, `,"conv":`...)
	b = appendString(b, m.Conv)
	b = appendUint(b, "seq", m.Seq)
	b = append(b, `,"from":`...)
	b = appendString(b, m.From)
	b = append(b, `,"device":`...)
	b = appendString(b, m.Device)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, m.Time, 10)
	if m.Kind != "" {
		b = append(b, `,"kind":`...)
		b = appendString(b, m.Kind)
	}
	if m.Ref != 0 {
		b = appendUint(b, "ref", m.Ref)
	}
	b = appendState(b, m)
	b = append(b, `,"body":`...)
	b = append(b, m.Body...)
	return &encodedMessage{msg: m, body: b}
}

// appendState appends what has happened to a message since it was sent.
func appendState(b []byte, m *history.Message) []byte {
	if m.Recalled {
		b = append(b, `,"recalled":true`...)
	}
	if m.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	if m.Edited != 0 {
		b = append(b, `,"edited":`...)
		b = strconv.AppendInt(b, m.Edited, 10)
	}
	return b
}

// appendEntry appends one inbox entry as seen by reader: the sender's own
// users also get the client message id, so the sending app can match it.
func appendEntry(b []byte, pts uint64, em *encodedMessage, reader string) []byte {
	b = append(b, `{"pts":`...)
	b = strconv.AppendUint(b, pts, 10)
	if em.msg.From == reader {
		b = append(b, `,"cid":`...)
		b = appendString(b, em.msg.ClientID)
	}
	b = append(b, ',')
	b = append(b, em.body...)
	return append(b, '}')
}

func encodeAck(id string, a history.Ack) []byte {
	b := make([]byte, 0, 160)
	b = appendHead(b, "ack", id)
	b = appendUint(b, "msg_id", a.ID)
	b = append(b, `,"conv":`...)
	b = appendString(b, a.Conv)
	b = appendUint(b, "seq", a.Seq)
	b = appendUint(b, "pts", a.Pts)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, a.Time, 10)
	if a.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, '}')
}

func encodeError(id string, code Code, msg string) []byte {
	b := make([]byte, 0, 64+len(msg))
	b = appendHead(b, "error", id)
	b = append(b, `,"code":"`...)
	b = append(b, code...)
	b = append(b, `","message":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

// encodeJSON encodes a rare frame with encoding/json; v must marshal to an
// object whose first field is not type.
func encodeJSON(typ, id string, v any) []byte {
	payload, err := json.Marshal(v)
	if err != nil || len(payload) < 2 || payload[0] != '{' {
		panic("chat: cannot encode " + typ + " frame")
	}
	b := appendHead(make([]byte, 0, len(payload)+32), typ, id)
	if len(payload) > 2 {
		b = append(b, ',')
	}
	return append(b, payload[1:]...)
}

// messageJSON is a message in a history page.
type messageJSON struct {
	ID       uint64          `json:"id"`
	Conv     string          `json:"conv"`
	Seq      uint64          `json:"seq"`
	From     string          `json:"from"`
	Device   string          `json:"device"`
	CID      string          `json:"cid,omitempty"`
	TS       int64           `json:"ts"`
	Kind     string          `json:"kind,omitempty"`
	Ref      uint64          `json:"ref,omitempty"`
	Recalled bool            `json:"recalled,omitempty"`
	Deleted  bool            `json:"deleted,omitempty"`
	Edited   int64           `json:"edited,omitempty"`
	Body     json.RawMessage `json:"body"`
}

func toMessageJSON(m *history.Message, reader string) messageJSON {
	j := messageJSON{ID: m.ID, Conv: m.Conv, Seq: m.Seq, From: m.From, Device: m.Device, TS: m.Time, Body: m.Body,
		Kind: m.Kind, Ref: m.Ref, Recalled: m.Recalled, Deleted: m.Deleted, Edited: m.Edited}
	if m.From == reader {
		j.CID = m.ClientID
	}
	return j
}
