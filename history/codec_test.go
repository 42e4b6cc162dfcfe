package history

import (
	"bytes"
	"reflect"
	"testing"
)

func TestKeyOrder(t *testing.T) {
	// Byte order of keys is numeric order of their sequences.
	pairs := [][2]uint64{{1, 2}, {255, 256}, {1 << 32, 1<<32 + 1}, {0, 1 << 63}}
	for _, p := range pairs {
		if bytes.Compare(msgKey("d:a:b", p[0]), msgKey("d:a:b", p[1])) >= 0 {
			t.Errorf("msgKey %d >= msgKey %d", p[0], p[1])
		}
		if bytes.Compare(expiryKey(int64(p[0]), "u", "d", "c"), expiryKey(int64(p[1]), "a", "a", "a")) >= 0 && p[1] < 1<<63 {
			t.Errorf("expiryKey %d >= expiryKey %d", p[0], p[1])
		}
	}
	// A conversation's messages are not inside a longer id's prefix range.
	prefix := seqPrefix(kindMessage, "d:a:b")
	for _, k := range [][]byte{msgKey("d:a:bc", 1), msgKey("d:a:b\x01", 1), memberKey("d:a:b", "x")} {
		if bytes.Compare(k, prefix) >= 0 && bytes.Compare(k, prefixEnd(prefix)) < 0 {
			t.Errorf("key %q inside the range of %q", k, prefix)
		}
	}
}

func TestDirectMembers(t *testing.T) {
	tests := []struct {
		conv string
		want []string
	}{
		{DirectConv("bob", "alice"), []string{"alice", "bob"}},
		{DirectConv("alice", "alice"), []string{"alice"}},
		{"d:a", nil},
		{"g:a:b", nil},
		{"d::b", nil},
		{"d:a:b:c", nil},
	}
	for _, tt := range tests {
		if got, _ := directMembers(tt.conv); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("directMembers(%q) = %q, want %q", tt.conv, got, tt.want)
		}
	}
}

func FuzzMessageCodec(f *testing.F) {
	f.Add(uint64(1), "alice", "phone", "c1", int64(1_700_000_000_000), []byte(`{"text":"hi"}`), "bob", uint64(7), []byte{})
	f.Add(uint64(0), "", "", "", int64(-1), []byte{}, "", uint64(0), []byte{1, 0xff, 0xff})
	f.Add(uint64(1<<63), "x\x00", "é", "c", int64(0), []byte{0}, "u", uint64(1<<64-1), encodeMessage(&Message{ID: 3, Body: []byte("b")}, nil))
	f.Fuzz(func(t *testing.T, id uint64, from, device, cid string, tm int64, body []byte, user string, pts uint64, garbage []byte) {
		m := &Message{ID: id, Conv: "d:a:b", Seq: 9, From: from, Device: device, ClientID: cid, Time: tm, Body: body}
		if len(garbage)%2 == 1 {
			// The second message version: a kind, a reference and a state.
			m.Kind, m.Ref, m.Recalled, m.Deleted, m.Edited = user, pts, tm&1 == 0, tm&2 == 0, tm/3
		}
		refs := []InboxRef{{User: user, Pts: pts}, {User: from, Pts: pts / 2}}
		v := encodeMessage(m, refs)
		var gotRefs []InboxRef
		got, err := decodeMessage(m.Conv, m.Seq, v, &gotRefs)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", m, err)
		}
		if got.Body == nil {
			got.Body = []byte{}
		}
		if m.Body == nil {
			m.Body = []byte{}
		}
		if !reflect.DeepEqual(got, m) || !reflect.DeepEqual(gotRefs, refs) {
			t.Fatalf("round trip: got %+v %+v, want %+v %+v", got, gotRefs, m, refs)
		}
		if _, err := decodeMessage("c", 1, v, nil); err != nil {
			t.Fatalf("decode without refs: %v", err)
		}
		// Truncated values and garbage fail without panicking; whatever
		// decodes re-encodes to the same message.
		for _, bad := range [][]byte{v[:len(v)-1], garbage, append(v, garbage...)} {
			var r []InboxRef
			if m2, err := decodeMessage("c", 1, bad, &r); err == nil {
				m3, err := decodeMessage("c", 1, encodeMessage(m2, r), nil)
				if err != nil || m3.ID != m2.ID || !bytes.Equal(m3.Body, m2.Body) {
					t.Fatalf("re-encoding %x: %+v, %v", bad, m3, err)
				}
			}
		}
		_, _ = decodeDedup(garbage)
		_, _ = decodeUvarint(garbage)
		_, _ = decodeGroup(garbage)
		_, _ = decodeGMember(user, garbage)
		_, _ = decodeMembership(garbage)
		_, _ = decodeDevice(garbage)
		grp := &groupRecord{Name: from, Creator: device, Created: tm, Activity: pts}
		if got, err := decodeGroup(encodeGroup(grp)); err != nil || *got != *grp {
			t.Fatalf("group round trip: %+v, %v; want %+v", got, err, grp)
		}
		dev := &deviceRecord{Platform: cid, State: DeviceState(user), LastSeen: tm, UnbindPush: pts%2 == 0}
		if got, err := decodeDevice(encodeDevice(dev)); err != nil || *got != *dev {
			t.Fatalf("device round trip: %+v, %v; want %+v", got, err, dev)
		}
		ms := membership{JoinSeq: pts, LeftSeq: id}
		if got, err := decodeMembership(encodeMembership(ms)); err != nil || got != ms {
			t.Fatalf("membership round trip: %+v, %v; want %+v", got, err, ms)
		}
		rec := &dedupRecord{Ack: Ack{ID: id, Conv: from, Seq: pts, Time: tm, Pts: pts + 1}, Expiry: tm}
		copy(rec.Digest[:], body)
		if got, err := decodeDedup(encodeDedup(rec)); err != nil || *got != *rec {
			t.Fatalf("dedup round trip: %+v, %v; want %+v", got, err, rec)
		}
	})
}

func FuzzKeyCodec(f *testing.F) {
	f.Add("d:alice:bob", "alice", "phone", "c1", uint64(1), int64(1_700_000_000_000), []byte("m"))
	f.Add("c", "u", "d", "x", uint64(0), int64(-1), []byte{'x', 0, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 0})
	f.Add("a\x00b", "", "d", "x", uint64(1<<64-1), int64(0), []byte{'i', 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, conv, user, device, cid string, seq uint64, ms int64, garbage []byte) {
		// Garbage never panics.
		_, _, _ = parseSeqKey(kindMessage, garbage)
		_, _, _ = parseSeqKey(kindInbox, garbage)
		_, _ = parseIDKey(kindMember, 2, garbage)
		_, _, _, _, _ = parseExpiryKey(garbage)
		_, _, _ = parseInboxValue(garbage)

		if validID(conv) {
			gotConv, gotSeq, err := parseSeqKey(kindMessage, msgKey(conv, seq))
			if err != nil || gotConv != conv || gotSeq != seq {
				t.Fatalf("msgKey(%q, %d) parses to %q, %d, %v", conv, seq, gotConv, gotSeq, err)
			}
			gotConv, gotSeq, err = parseInboxValue(inboxValue(conv, seq))
			if err != nil || gotConv != conv || gotSeq != seq {
				t.Fatalf("inboxValue(%q, %d) parses to %q, %d, %v", conv, seq, gotConv, gotSeq, err)
			}
			if k := msgKey(conv, seq); !bytes.HasPrefix(k, seqPrefix(kindMessage, conv)) ||
				bytes.Compare(k, prefixEnd(seqPrefix(kindMessage, conv))) >= 0 {
				t.Fatalf("msgKey(%q, %d) outside its prefix range", conv, seq)
			}
		} else if _, _, err := parseSeqKey(kindMessage, msgKey(conv, seq)); err == nil {
			t.Fatalf("msgKey with invalid id %q parsed", conv)
		}
		if validID(user) && validID(conv) {
			parts, err := parseIDKey(kindMember, 2, memberKey(user, conv))
			if err != nil || parts[0] != user || parts[1] != conv {
				t.Fatalf("memberKey(%q, %q) parses to %q, %v", user, conv, parts, err)
			}
		}
		if validID(user) && validID(device) && validID(cid) {
			gotMs, u, d, c, err := parseExpiryKey(expiryKey(ms, user, device, cid))
			if err != nil || gotMs != ms || u != user || d != device || c != cid {
				t.Fatalf("expiryKey(%d, %q, %q, %q) parses to %d %q %q %q, %v", ms, user, device, cid, gotMs, u, d, c, err)
			}
			parts, err := parseIDKey(kindDedup, 3, dedupKey(user, device, cid))
			if err != nil || parts[0] != user || parts[1] != device || parts[2] != cid {
				t.Fatalf("dedupKey parses to %q, %v", parts, err)
			}
		}
	})
}

func TestAppendMsgKey(t *testing.T) {
	for _, c := range []struct {
		conv string
		seq  uint64
	}{{"d:a:b", 1}, {"d:alice:bob", 1 << 40}, {"x", 0}} {
		if got, want := appendMsgKey([]byte("junk")[:0], c.conv, c.seq), msgKey(c.conv, c.seq); !bytes.Equal(got, want) {
			t.Errorf("appendMsgKey(%q, %d) = %q, want %q", c.conv, c.seq, got, want)
		}
	}
}
