package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// A small WebSocket client for the process tests, speaking
// docs/protocol.md: auth, send, sync, history.

// wireFrame is any frame the server sends, decoded loosely: each type fills
// some of the fields.
type wireFrame struct {
	Type      string      `json:"type"`
	ID        string      `json:"id"`
	Code      string      `json:"code"`    // error
	Message   string      `json:"message"` // error
	User      string      `json:"user"`    // authed
	Device    string      `json:"device"`  // authed
	Cursor    uint64      `json:"cursor"`  // authed
	Head      uint64      `json:"head"`    // authed
	MsgID     uint64      `json:"msg_id"`  // ack
	Conv      string      `json:"conv"`    // ack, history
	Seq       uint64      `json:"seq"`     // ack
	Pts       uint64      `json:"pts"`     // ack, synced
	TS        int64       `json:"ts"`      // ack
	Duplicate bool        `json:"duplicate"`
	Floor     uint64      `json:"floor"` // reset
	More      bool        `json:"more"`  // history
	Messages  []wireEntry `json:"messages"`
}

// ackString describes an ack for test failures.
func (f *wireFrame) ackString() string {
	if f == nil {
		return "no ack"
	}
	s := fmt.Sprintf("id %d %s seq %d pts %d", f.MsgID, f.Conv, f.Seq, f.Pts)
	if f.Duplicate {
		s += " (duplicate)"
	}
	return s
}

// wireEntry is an inbox entry (messages) or a history message (no pts).
type wireEntry struct {
	Pts    uint64          `json:"pts"`
	ID     uint64          `json:"id"`
	Conv   string          `json:"conv"`
	Seq    uint64          `json:"seq"`
	From   string          `json:"from"`
	Device string          `json:"device"`
	CID    string          `json:"cid"`
	TS     int64           `json:"ts"`
	Body   json.RawMessage `json:"body"`
}

// wsClient is one authenticated connection.
type wsClient struct {
	conn         *websocket.Conn
	user, device string
	authed       wireFrame
}

// dialClient connects to addr and authenticates as the token's user on device.
func dialClient(ctx context.Context, addr, token, device string) (*wsClient, error) {
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/v1/ws", nil)
	if err != nil {
		return nil, err
	}
	// History pages of 500 messages exceed the library's 32 KiB default.
	conn.SetReadLimit(16 << 20)
	c := &wsClient{conn: conn, device: device}
	if err := c.write(ctx, map[string]any{"type": "auth", "id": "auth", "token": token, "device": device}); err != nil {
		conn.CloseNow()
		return nil, err
	}
	f, err := c.read(ctx)
	if err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("auth: %w", err)
	}
	if f.Type != "authed" {
		conn.CloseNow()
		return nil, fmt.Errorf("auth answered with %+v", f)
	}
	c.user, c.authed = f.User, f
	return c, nil
}

func (c *wsClient) close() { c.conn.CloseNow() }

func (c *wsClient) write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.conn.Write(ctx, websocket.MessageText, b)
}

func (c *wsClient) read(ctx context.Context) (wireFrame, error) {
	var f wireFrame
	_, data, err := c.conn.Read(ctx)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("frame %q: %w", data, err)
	}
	return f, nil
}

// outMsg is one message a test client sends, kept with its answers across
// reconnects and restarts, as an app keeps its unsent messages.
type outMsg struct {
	from, device, to, cid string
	body                  json.RawMessage // compact, as the server stores it

	// Set by the ledger, under its lock.
	ack     *wireFrame // the first ack; every later ack must equal it
	ackLife int        // the server lifetime the first ack came in
}

func (m *outMsg) conv() string {
	if m.to < m.from {
		return "d:" + m.to + ":" + m.from
	}
	return "d:" + m.from + ":" + m.to
}

func (c *wsClient) writeSend(ctx context.Context, m *outMsg) error {
	return c.write(ctx, struct {
		Type string          `json:"type"`
		ID   string          `json:"id"`
		To   string          `json:"to"`
		CID  string          `json:"cid"`
		Body json.RawMessage `json:"body"`
	}{"send", m.cid, m.to, m.cid, m.body})
}

const pumpEndID = "pump-end"

// pump sends the messages next returns, keeping at most window of them
// awaiting an answer, and hands each answer (ack or error) to answered on
// the calling goroutine. It returns once next returned nil and every send
// was answered (err nil), or when the connection ends (err says how). sent
// lists the messages written, in order. next is called on another goroutine.
func (c *wsClient) pump(ctx context.Context, window int, next func() *outMsg, answered func(*outMsg, wireFrame)) (sent []*outMsg, err error) {
	var mu sync.Mutex
	pending := make(map[string]*outMsg) // guarded by mu: by frame id (the cid)
	slots := make(chan struct{}, window)
	readerDone := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		var werr error
		defer func() { writerDone <- werr }()
		for {
			m := next()
			if m == nil {
				break
			}
			select {
			case slots <- struct{}{}:
			case <-readerDone:
				return
			}
			mu.Lock()
			pending[m.cid] = m
			mu.Unlock()
			sent = append(sent, m)
			if werr = c.writeSend(ctx, m); werr != nil {
				return
			}
		}
		// Answered at once, so it comes before the last acks or after them:
		// the pump is done when it is seen and nothing is pending.
		werr = c.write(ctx, map[string]string{"type": "ping", "id": pumpEndID})
	}()

	var rerr error
	endSeen := false
	for {
		f, err := c.read(ctx)
		if err != nil {
			rerr = err
			break
		}
		if f.Type == "pong" && f.ID == pumpEndID {
			endSeen = true
		} else if f.Type == "ack" || f.Type == "error" {
			mu.Lock()
			m := pending[f.ID]
			delete(pending, f.ID)
			mu.Unlock()
			if m == nil {
				rerr = fmt.Errorf("answer to nothing pending: %+v", f)
				break
			}
			answered(m, f)
			<-slots
		}
		mu.Lock()
		n := len(pending)
		mu.Unlock()
		if endSeen && n == 0 {
			break
		}
	}
	close(readerDone)
	if rerr != nil {
		c.conn.CloseNow() // ends a blocked write
	}
	werr := <-writerDone
	if rerr != nil {
		return sent, rerr
	}
	return sent, werr
}

// errNotFound is a not_found answer: no such conversation (yet).
var errNotFound = errors.New("not_found")

// historyPage asks for one page of conv's history: limit messages before
// seq before (0: the newest).
func (c *wsClient) historyPage(ctx context.Context, conv string, before uint64, limit int) (wireFrame, error) {
	if err := c.write(ctx, map[string]any{"type": "history", "id": "h", "conv": conv, "before": before, "limit": limit}); err != nil {
		return wireFrame{}, err
	}
	for {
		f, err := c.read(ctx)
		if err != nil {
			return f, err
		}
		if f.ID != "h" {
			continue
		}
		if f.Code == "not_found" {
			return f, fmt.Errorf("history %s: %w", conv, errNotFound)
		}
		if f.Type != "history" {
			return f, fmt.Errorf("history %s: %+v", conv, f)
		}
		return f, nil
	}
}

// history returns every message of conv, oldest first, paging backwards.
func (c *wsClient) history(ctx context.Context, conv string) ([]wireEntry, error) {
	var all []wireEntry
	before := uint64(0)
	for {
		f, err := c.historyPage(ctx, conv, before, 500)
		if err != nil {
			return nil, err
		}
		all = append(f.Messages, all...)
		if !f.More || len(f.Messages) == 0 {
			return all, nil
		}
		before = f.Messages[0].Seq
	}
}

// inboxDevice is a receiving device: what it has processed, kept across
// connections, and the position it syncs from.
type inboxDevice struct {
	user, device string
	entries      []wireEntry // everything received, in order
	cursor       uint64      // pts of the last entry processed
	slowCloses   int         // connections closed with 4003
}

// follow syncs from the device's cursor and processes entries, live after
// synced, until done (checked after every frame) returns true (err nil) or
// the connection ends. done may be nil: follow until the connection ends.
func (d *inboxDevice) follow(ctx context.Context, c *wsClient, done func() bool) error {
	if err := c.write(ctx, map[string]any{"type": "sync", "id": "sync", "after": d.cursor}); err != nil {
		return err
	}
	for {
		if done != nil && done() {
			return nil
		}
		f, err := c.read(ctx)
		if err != nil {
			return err
		}
		switch f.Type {
		case "messages":
			for _, e := range f.Messages {
				d.entries = append(d.entries, e)
				d.cursor = e.Pts
			}
		case "error", "reset":
			return fmt.Errorf("%s/%s: sync answered %+v", d.user, d.device, f)
		}
	}
}

// followAll connects as the device and follows until done or the
// connection ends other than by 4003 (too slow): after 4003 it reconnects
// and syncs from its cursor, as the protocol tells a client to.
func (d *inboxDevice) followAll(ctx context.Context, addr, token string, done func() bool) error {
	for {
		c, err := dialClient(ctx, addr, token, d.device)
		if err != nil {
			return err
		}
		err = d.follow(ctx, c, done)
		c.close()
		if websocket.CloseStatus(err) != 4003 {
			return err
		}
		d.slowCloses++
	}
}

// registerThenLeave logs user's device in with token, registers pushToken
// with vendor, and disconnects: the device is offline and pushable.
func registerThenLeave(t *testing.T, ctx context.Context, addr, token, device, vendor, pushToken string) {
	t.Helper()
	c, err := dialClient(ctx, addr, token, device)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.write(ctx, map[string]any{"type": "push_register", "id": "r", "vendor": vendor, "token": pushToken})
	if f, err := c.read(ctx); err != nil || f.Type != "push_registered" {
		t.Fatalf("push_register: %+v %v", f, err)
	}
}
