package offlinepush

import (
	"context"
	"encoding/binary"
)

// KV is the durable table the push layer keeps its records in: tokens,
// settings, mutes, queued jobs and outcomes. cmd/loft backs it with a
// history.Table, so it lives in the same database as the messages.
type KV interface {
	Get(key []byte) (value []byte, found bool, err error)
	// Scan calls fn with every record whose key starts with prefix, in
	// key order; keys and values are valid only during the call.
	Scan(prefix []byte, fn func(key, value []byte) error) error
	// Apply writes ops atomically; they are durable when it returns.
	Apply(ctx context.Context, ops ...Op) error
}

// Op is one write of an Apply: a set, or a delete if Delete is true.
type Op struct {
	Key, Value []byte
	Delete     bool
}

// Record kinds: the first byte of each key. Fields are separated by 0x00
// (ids never contain it); numbers are big-endian so keys sort by them.
//
//	't' vendor 0 token            -> binding (JSON): who holds the token
//	'd' user 0 device 0 vendor    -> token: the device's token of a vendor
//	'x' user 0 device             -> why the device lost its tokens (kicked, logged_out)
//	's' user                      -> settings (JSON)
//	'm' user 0 conv               -> mute (JSON)
//	'j' be64(due ms) be64(job id) -> job (JSON): a push to send
//	'o' be64(msg id) user 0 device -> outcome (JSON)
//	'p' user 0 conv 0 device      -> be64(msg id): the last push of conv to device
//	'g' user 0 device 0 tag       -> (empty) a target's tag; see tags.go
//	'i' tag 0 user 0 device       -> (empty) the same, by tag
const (
	recToken    = 't'
	recDevice   = 'd'
	recGone     = 'x'
	recSetting  = 's'
	recMute     = 'm'
	recJob      = 'j'
	recOutcome  = 'o'
	recPushed   = 'p'
	recCampaign = 'c' // 'c' be64(campaign id) -> campaign (JSON)
)

// key joins a record kind and fields with 0x00 separators.
func key(kind byte, fields ...string) []byte {
	n := 1
	for _, f := range fields {
		n += len(f) + 1
	}
	k := make([]byte, 0, n)
	k = append(k, kind)
	for i, f := range fields {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, f...)
	}
	return k
}

// prefix is key with a trailing separator: every key under these fields.
func prefix(kind byte, fields ...string) []byte { return append(key(kind, fields...), 0) }

func jobKey(due int64, id uint64) []byte {
	k := binary.BigEndian.AppendUint64([]byte{recJob}, uint64(due))
	return binary.BigEndian.AppendUint64(k, id)
}

func outcomePrefix(msgID uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{recOutcome}, msgID)
}

func outcomeKey(msgID uint64, user, device string) []byte {
	k := outcomePrefix(msgID)
	k = append(k, user...)
	k = append(k, 0)
	return append(k, device...)
}
