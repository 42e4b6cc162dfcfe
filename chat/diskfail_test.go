package chat

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/loftchat/loft/history"
)

// failingFS is the real file system with the store's write-ahead log
// refusing writes and syncs while fail is set: a full or failing disk.
type failingFS struct {
	*errorfs.FS
	fail atomic.Bool
}

func newFailingFS() *failingFS {
	fs := &failingFS{}
	fs.FS = errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !fs.fail.Load() || !strings.HasSuffix(op.Path, ".log") {
			return nil
		}
		switch op.Kind {
		case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			return errorfs.ErrInjected
		}
		return nil
	}))
	return fs
}

// restartFailed restarts a server whose store has failed, as its operator
// would: the store's Close reports the failed log, which is expected.
func (ts *testServer) restartFailed() {
	ts.tb.Helper()
	ts.mu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ts.http.Config.Shutdown(ctx)
	if err := ts.srv.Close(ctx); err != nil {
		ts.tb.Errorf("chat close: %v", err)
	}
	cancel()
	ts.http.Close()
	_ = ts.store.Close()
	ts.srv = nil
	ts.mu.Unlock()
	ts.start(nil)
}

// untilPong pings and returns the frames that arrive before the pong: the
// server answers in order, so they are everything queued before the ping.
func (c *client) untilPong() []frame {
	c.tb.Helper()
	c.write(map[string]any{"type": "ping", "id": "until-pong"})
	var out []frame
	for {
		f, err := c.read()
		if err != nil {
			c.tb.Fatalf("waiting for pong: %v", err)
		}
		if f.Type == "pong" && f.ID == "until-pong" {
			return out
		}
		out = append(out, f)
	}
}

// A send the disk refuses is answered with unavailable and never acked nor
// delivered; the server keeps refusing until it is restarted, and then the
// client's retry with the same cid stores the message exactly once.
func TestDiskFailureRefusesTheSendAndTheRetryStoresItOnce(t *testing.T) {
	fs := newFailingFS()
	ts := newTestServerStore(t, history.Config{FS: fs}, nil)
	alice := ts.online(t, "alice", "phone")
	bob := ts.online(t, "bob", "phone")
	alice.sendMsg("bob", "m1", `{"text":"one"}`)
	bob.entries(1)

	fs.fail.Store(true)
	sendTwo := `{"type":"send","id":"m2","to":"bob","cid":"m2","body":{"text":"two"}}`
	alice.writeRaw(sendTwo)
	if f := alice.expectError(CodeUnavailable); f.ID != "m2" {
		t.Fatalf("error for the failed send has id %q, want m2", f.ID)
	}
	for _, f := range alice.untilPong() {
		if f.Type == "ack" || f.Type == "error" {
			t.Fatalf("after the error for m2 the sender got %s", f.Raw)
		}
	}
	if fs := bob.untilPong(); len(fs) != 0 {
		t.Fatalf("the recipient got %s for a message that was not stored", fs[0].Raw)
	}

	// The store stays failed after the disk recovers: every request is
	// refused with unavailable, none crashes the server, until a restart.
	fs.fail.Store(false)
	alice.writeRaw(sendTwo)
	alice.expectError(CodeUnavailable)
	alice.write(map[string]any{"type": "history", "id": "h", "conv": "d:alice:bob"})
	alice.expectError(CodeUnavailable)
	if fs := alice.untilPong(); len(fs) != 0 {
		t.Fatalf("unexpected %s", fs[0].Raw)
	}

	alice.conn.CloseNow()
	bob.conn.CloseNow()
	ts.restartFailed()
	alice, _ = ts.login(t, "alice", "phone")
	ack := alice.sendMsg("bob", "m2", `{"text":"two"}`)
	if ack.Duplicate || ack.Seq != 2 || ack.Pts != 2 {
		t.Fatalf("the retry after the restart = %s, want a new message with seq 2, pts 2", ack.Raw)
	}
	if again := alice.sendMsg("bob", "m2", `{"text":"two"}`); !again.Duplicate || again.MsgID != ack.MsgID {
		t.Fatalf("a second retry = %s, want the duplicate of %s", again.Raw, ack.Raw)
	}
	bob, _ = ts.login(t, "bob", "phone")
	es := bob.syncFrom(0)
	checkPts(t, es, 0)
	if len(es) != 2 || es[0].Seq != 1 || es[1].Seq != 2 || string(es[1].Body) != `{"text":"two"}` {
		t.Fatalf("bob's inbox = %+v, want m1 and m2 once each", es)
	}
}
