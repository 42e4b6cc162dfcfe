package history

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// This file is the one key and value codec of the store; the key layout is
// documented in doc.go.

// Record kinds: the first byte of every key.
const (
	kindMessage   = 'm'
	kindInbox     = 'i'
	kindConvSeq   = 'c'
	kindUserPts   = 'p'
	kindGlobalID  = 'g'
	kindMember    = 'u'
	kindReadMark  = 'r'
	kindCursor    = 'k'
	kindFloor     = 'f'
	kindDedup     = 'd'
	kindExpiry    = 'x'
	kindGroup     = 'G'
	kindGMember   = 'M'
	kindGRead     = 'R'
	kindActivity  = 'a'
	kindDevice    = 'v'
	kindDelivered = 'e'
)

// sep separates the fields of a key; ids never contain it.
const sep = 0x00

// errCorrupt reports a key or value the codec cannot decode. It is internal:
// it means the database holds something this code did not write.
var errCorrupt = errors.New("history: corrupt record")

// validID reports whether s may be used as a key field.
func validID(s string) bool {
	return s != "" && strings.IndexByte(s, sep) < 0
}

// makeKey returns kind followed by ids separated by sep, with room for extra
// more bytes at the end.
func makeKey(extra int, kind byte, ids ...string) []byte {
	n := 1 + extra
	for _, id := range ids {
		n += len(id) + 1
	}
	k := make([]byte, 0, n)
	k = append(k, kind)
	for i, id := range ids {
		if i > 0 {
			k = append(k, sep)
		}
		k = append(k, id...)
	}
	return k
}

// seqKey returns kind id 0 be64(seq): the key of a message ('m' conv 0 seq)
// or an inbox entry ('i' user 0 pts).
func seqKey(kind byte, id string, seq uint64) []byte {
	k := makeKey(9, kind, id)
	k = append(k, sep)
	return binary.BigEndian.AppendUint64(k, seq)
}

func msgKey(conv string, seq uint64) []byte { return seqKey(kindMessage, conv, seq) }

// appendMsgKey appends msgKey(conv, seq) to b.
func appendMsgKey(b []byte, conv string, seq uint64) []byte {
	b = append(b, kindMessage)
	b = append(b, conv...)
	b = append(b, sep)
	return binary.BigEndian.AppendUint64(b, seq)
}
func inboxKey(user string, pts uint64) []byte { return seqKey(kindInbox, user, pts) }

// seqPrefix returns kind id 0, the prefix of every seqKey of id.
func seqPrefix(kind byte, id string) []byte {
	return append(makeKey(1, kind, id), sep)
}

func convSeqKey(conv string) []byte        { return makeKey(0, kindConvSeq, conv) }
func groupKey(conv string) []byte          { return makeKey(0, kindGroup, conv) }
func gMemberKey(conv, user string) []byte  { return makeKey(0, kindGMember, conv, user) }
func gReadKey(conv, user string) []byte    { return makeKey(0, kindGRead, conv, user) }
func deviceKey(user, device string) []byte { return makeKey(0, kindDevice, user, device) }
func idPrefix(kind byte, id string) []byte { return append(makeKey(1, kind, id), sep) }
func isGroup(conv string) bool             { return strings.HasPrefix(conv, groupPrefix) }

// markKey is where user's read mark of conv lives: by user for a direct
// conversation, by conversation for a group, so that a group's read
// receipts load with one scan.
func markKey(user, conv string) []byte {
	if isGroup(conv) {
		return gReadKey(conv, user)
	}
	return readMarkKey(user, conv)
}

// activityKey returns 'a' be64(id) 0 conv: the newest message id of a
// read-fan-out group, so that a sync finds the groups that moved on since
// an id by one scan.
func activityKey(id uint64, conv string) []byte {
	k := make([]byte, 0, 1+8+1+len(conv))
	k = append(k, kindActivity)
	k = binary.BigEndian.AppendUint64(k, id)
	k = append(k, sep)
	return append(k, conv...)
}
func userPtsKey(user string) []byte        { return makeKey(0, kindUserPts, user) }
func globalIDKey() []byte                  { return []byte{kindGlobalID} }
func memberKey(user, conv string) []byte   { return makeKey(0, kindMember, user, conv) }
func readMarkKey(user, conv string) []byte { return makeKey(0, kindReadMark, user, conv) }
func cursorKey(user, device string) []byte { return makeKey(0, kindCursor, user, device) }

// deliveredKey is where user's delivered mark of a direct conv lives: the
// highest seq of it a device of user confirmed.
func deliveredKey(user, conv string) []byte { return makeKey(0, kindDelivered, user, conv) }
func floorKey(user string) []byte           { return makeKey(0, kindFloor, user) }

func dedupKey(user, device, cid string) []byte {
	return makeKey(0, kindDedup, user, device, cid)
}

// expiryKey returns 'x' be64(ms) 0 user 0 device 0 cid.
func expiryKey(ms int64, user, device, cid string) []byte {
	k := make([]byte, 0, 1+8+1+len(user)+1+len(device)+1+len(cid))
	k = append(k, kindExpiry)
	k = binary.BigEndian.AppendUint64(k, uint64(ms))
	k = append(k, sep)
	k = append(k, user...)
	k = append(k, sep)
	k = append(k, device...)
	k = append(k, sep)
	return append(k, cid...)
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix: the UpperBound of a prefix scan. Every prefix used here ends in a
// byte below 0xff, so no carry is needed.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	end[len(end)-1]++
	return end
}

// parseSeqKey splits a key built by seqKey(kind, ...).
func parseSeqKey(kind byte, k []byte) (id string, seq uint64, err error) {
	if len(k) < 1+1+1+8 || k[0] != kind || k[len(k)-9] != sep {
		return "", 0, fmt.Errorf("%w: key %q", errCorrupt, k)
	}
	rawID := k[1 : len(k)-9]
	if bytes.IndexByte(rawID, sep) >= 0 {
		return "", 0, fmt.Errorf("%w: key %q", errCorrupt, k)
	}
	return string(rawID), binary.BigEndian.Uint64(k[len(k)-8:]), nil
}

// parseIDKey splits a key of kind followed by n ids separated by sep.
func parseIDKey(kind byte, n int, k []byte) ([]string, error) {
	if len(k) < 2 || k[0] != kind {
		return nil, fmt.Errorf("%w: key %q", errCorrupt, k)
	}
	parts := strings.Split(string(k[1:]), string(rune(sep)))
	if len(parts) != n {
		return nil, fmt.Errorf("%w: key %q", errCorrupt, k)
	}
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%w: key %q", errCorrupt, k)
		}
	}
	return parts, nil
}

// parseExpiryKey splits a key built by expiryKey.
func parseExpiryKey(k []byte) (ms int64, user, device, cid string, err error) {
	if len(k) < 1+8+1 || k[0] != kindExpiry || k[9] != sep {
		return 0, "", "", "", fmt.Errorf("%w: key %q", errCorrupt, k)
	}
	parts, err := parseIDKey(kindExpiry, 3, append([]byte{kindExpiry}, k[10:]...))
	if err != nil {
		return 0, "", "", "", err
	}
	return int64(binary.BigEndian.Uint64(k[1:9])), parts[0], parts[1], parts[2], nil
}

// inboxValue is the value of an inbox entry: conv 0 be64(seq), which is the
// message's key without its kind byte.
func inboxValue(conv string, seq uint64) []byte {
	return msgKey(conv, seq)[1:]
}

func parseInboxValue(v []byte) (conv string, seq uint64, err error) {
	k := make([]byte, 0, 1+len(v))
	k = append(k, kindMessage)
	return parseSeqKey(kindMessage, append(k, v...))
}

// Values: a leading version byte, then fields as uvarints, varints and
// uvarint-length-prefixed bytes. Decoders copy what they keep, since Pebble's
// value buffers are only valid until their closer is closed.
const valueVersion = 1

// messageVersion2 adds a message's kind, reference and state.
const messageVersion2 = 2

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads a value; the first error sticks and later reads return zero
// values, so a caller checks err once at the end.
type decoder struct {
	b   []byte
	err error
}

func newDecoder(v []byte) *decoder {
	d := &decoder{b: v}
	if len(v) == 0 || v[0] != valueVersion {
		d.fail()
		return d
	}
	d.b = v[1:]
	return d
}

// newMessageDecoder accepts both message versions and returns the one found.
func newMessageDecoder(v []byte) (*decoder, byte) {
	if len(v) > 0 && v[0] == messageVersion2 {
		return &decoder{b: v[1:]}, messageVersion2
	}
	return newDecoder(v), valueVersion
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// raw returns the next n bytes, not copied.
func (d *decoder) raw(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte { return bytes.Clone(d.raw(d.uvarint())) }

func (d *decoder) string() string { return string(d.raw(d.uvarint())) }

// finish returns the first error, or an error if bytes are left over.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = errCorrupt
	}
	return d.err
}

// encodeMessage returns the value of m's message record. Conv and Seq are in
// the key; refs are the inbox entries m appended, which retention deletes
// with it.
func encodeMessage(m *Message, refs []InboxRef) []byte {
	n := 1 + 8*binary.MaxVarintLen64 + len(m.From) + len(m.Device) + len(m.ClientID) + len(m.Body) + len(m.Kind)
	for _, r := range refs {
		n += len(r.User) + 2*binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	plain := m.Kind == "" && m.Ref == 0 && m.flags() == 0 && m.Edited == 0
	if plain {
		b = append(b, valueVersion) // what most messages are: no extra bytes
	} else {
		b = append(b, messageVersion2)
	}
	b = binary.AppendUvarint(b, m.ID)
	b = appendString(b, m.From)
	b = appendString(b, m.Device)
	b = appendString(b, m.ClientID)
	b = binary.AppendVarint(b, m.Time)
	b = appendBytes(b, m.Body)
	if !plain {
		b = appendString(b, m.Kind)
		b = binary.AppendUvarint(b, m.Ref)
		b = binary.AppendUvarint(b, m.flags())
		b = binary.AppendVarint(b, m.Edited)
	}
	b = binary.AppendUvarint(b, uint64(len(refs)))
	for _, r := range refs {
		b = appendString(b, r.User)
		b = binary.AppendUvarint(b, r.Pts)
	}
	return b
}

// decodeMessage decodes the value of the message conv/seq. It decodes the
// inbox refs too only if refs is not nil.
func decodeMessage(conv string, seq uint64, v []byte, refs *[]InboxRef) (*Message, error) {
	d, version := newMessageDecoder(v)
	m := &Message{Conv: conv, Seq: seq}
	m.ID = d.uvarint()
	m.From = d.string()
	m.Device = d.string()
	m.ClientID = d.string()
	m.Time = d.varint()
	m.Body = d.bytes()
	if version == messageVersion2 {
		m.Kind = d.string()
		m.Ref = d.uvarint()
		m.setFlags(d.uvarint())
		m.Edited = d.varint()
	}
	count := d.uvarint()
	// Each ref takes at least two bytes: this bounds the allocation.
	if count > uint64(len(d.b))/2 {
		d.fail()
	}
	if refs == nil {
		d.b = nil
	} else if d.err == nil {
		*refs = make([]InboxRef, 0, count)
		for i := uint64(0); i < count && d.err == nil; i++ {
			r := InboxRef{User: d.string()}
			r.Pts = d.uvarint()
			*refs = append(*refs, r)
		}
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("message %q %d: %w", conv, seq, err)
	}
	return m, nil
}

// Message state flags, as stored.
const (
	flagRecalled = 1 << iota
	flagDeleted
)

func (m *Message) flags() uint64 {
	var f uint64
	if m.Recalled {
		f |= flagRecalled
	}
	if m.Deleted {
		f |= flagDeleted
	}
	return f
}

func (m *Message) setFlags(f uint64) {
	m.Recalled = f&flagRecalled != 0
	m.Deleted = f&flagDeleted != 0
}

// groupRecord is the value of a 'G' key.
type groupRecord struct {
	Name     string
	Creator  string
	Created  int64
	Activity uint64 // id of the newest read-fan-out message, 0 if none
}

func encodeGroup(r *groupRecord) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(r.Name)+len(r.Creator)+4)
	b = append(b, valueVersion)
	b = appendString(b, r.Name)
	b = appendString(b, r.Creator)
	b = binary.AppendVarint(b, r.Created)
	return binary.AppendUvarint(b, r.Activity)
}

func decodeGroup(v []byte) (*groupRecord, error) {
	d := newDecoder(v)
	r := &groupRecord{Name: d.string(), Creator: d.string(), Created: d.varint(), Activity: d.uvarint()}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("group record: %w", err)
	}
	return r, nil
}

// encodeGMember is the value of an 'M' key: role and the seq the member
// joined at.
func encodeGMember(m Member) []byte {
	b := []byte{valueVersion}
	b = appendString(b, string(m.Role))
	return binary.AppendUvarint(b, m.JoinSeq)
}

func decodeGMember(user string, v []byte) (Member, error) {
	d := newDecoder(v)
	m := Member{User: user, Role: Role(d.string()), JoinSeq: d.uvarint()}
	if err := d.finish(); err != nil {
		return Member{}, fmt.Errorf("group member: %w", err)
	}
	return m, nil
}

// membership is the value of a 'u' key: empty for a direct conversation
// (all of it is the member's), the seqs a group member may read otherwise.
type membership struct {
	JoinSeq uint64 // first seq the user may read
	LeftSeq uint64 // last seq the user may read; 0 while a member
}

func encodeMembership(m membership) []byte {
	b := []byte{valueVersion}
	b = binary.AppendUvarint(b, m.JoinSeq)
	return binary.AppendUvarint(b, m.LeftSeq)
}

func decodeMembership(v []byte) (membership, error) {
	if len(v) == 0 {
		return membership{}, nil
	}
	d := newDecoder(v)
	m := membership{JoinSeq: d.uvarint(), LeftSeq: d.uvarint()}
	if err := d.finish(); err != nil {
		return membership{}, fmt.Errorf("membership: %w", err)
	}
	return m, nil
}

// window clamps the seqs [lo, hi] to what m may read.
func (m membership) window(last uint64) (lo, hi uint64) {
	lo, hi = max(m.JoinSeq, 1), last
	if m.LeftSeq > 0 {
		hi = min(hi, m.LeftSeq)
	}
	return lo, hi
}

// deviceRecord is the value of a 'v' key.
type deviceRecord struct {
	Platform   string
	State      DeviceState
	LastSeen   int64 // Unix ms; 0 never
	UnbindPush bool
}

func encodeDevice(r *deviceRecord) []byte {
	b := []byte{valueVersion}
	b = appendString(b, r.Platform)
	b = appendString(b, string(r.State))
	b = binary.AppendVarint(b, r.LastSeen)
	if r.UnbindPush {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeDevice(v []byte) (*deviceRecord, error) {
	d := newDecoder(v)
	r := &deviceRecord{Platform: d.string(), State: DeviceState(d.string()), LastSeen: d.varint()}
	r.UnbindPush = d.uvarint() == 1
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("device record: %w", err)
	}
	return r, nil
}

// digestSize is how much of a body's sha256 a dedup record keeps.
const digestSize = 16

// dedupRecord is the value of a 'd' key: the ack of the first Append with a
// client id, the digest of what it sent, and when the record expires.
type dedupRecord struct {
	Ack    Ack
	Digest [digestSize]byte
	Expiry int64 // Unix milliseconds
}

func encodeDedup(r *dedupRecord) []byte {
	b := make([]byte, 0, 1+6*binary.MaxVarintLen64+len(r.Ack.Conv)+digestSize)
	b = append(b, valueVersion)
	b = binary.AppendUvarint(b, r.Ack.ID)
	b = appendString(b, r.Ack.Conv)
	b = binary.AppendUvarint(b, r.Ack.Seq)
	b = binary.AppendVarint(b, r.Ack.Time)
	b = binary.AppendUvarint(b, r.Ack.Pts)
	b = append(b, r.Digest[:]...)
	return binary.AppendVarint(b, r.Expiry)
}

func decodeDedup(v []byte) (*dedupRecord, error) {
	d := newDecoder(v)
	r := &dedupRecord{}
	r.Ack.ID = d.uvarint()
	r.Ack.Conv = d.string()
	r.Ack.Seq = d.uvarint()
	r.Ack.Time = d.varint()
	r.Ack.Pts = d.uvarint()
	copy(r.Digest[:], d.raw(digestSize))
	r.Expiry = d.varint()
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("dedup record: %w", err)
	}
	return r, nil
}

// Counters, read marks, cursors and floors are a bare uvarint, as doc.go
// documents.

func encodeUvarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func decodeUvarint(v []byte) (uint64, error) {
	x, n := binary.Uvarint(v)
	if n <= 0 || n != len(v) {
		return 0, fmt.Errorf("%w: counter %x", errCorrupt, v)
	}
	return x, nil
}

// directMembers returns the members of a direct conversation id built by
// DirectConv: [a b], or [a] for a conversation with oneself. User ids of
// direct messages never contain ':' (Append rejects them), which makes the
// split unambiguous.
func directMembers(conv string) ([]string, bool) {
	rest, ok := strings.CutPrefix(conv, "d:")
	if !ok {
		return nil, false
	}
	a, b, ok := strings.Cut(rest, ":")
	if !ok || a == "" || b == "" || strings.Contains(b, ":") {
		return nil, false
	}
	if a == b {
		return []string{a}, true
	}
	return []string{a, b}, true
}
