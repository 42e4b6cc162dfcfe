package chat

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// corkLimit is how much a corked connection buffers before it writes anyway.
const corkLimit = 64 << 10

var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, corkLimit+4096); return &b }}

// corkConn coalesces the frames of one writer pass into one write: while
// corked, writes are buffered (the library flushes after every frame), and
// uncork sends them with a single syscall. Uncorked writes (pongs, close
// frames outside a pass) go straight through. This keeps the protocol at one
// JSON object per frame while a busy connection pays one syscall per batch.
type corkConn struct {
	net.Conn
	timeout time.Duration // bounds each real write

	mu     sync.Mutex
	corked bool    // guarded by mu
	buf    *[]byte // guarded by mu: pooled while corked and holding data
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	if c.buf == nil {
		c.buf = corkBufs.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= corkLimit {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was buffered, within the timeout.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked()
}

func (c *corkConn) flushLocked() error {
	if c.buf == nil {
		return nil
	}
	var err error
	if len(*c.buf) > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
		_, err = c.Conn.Write(*c.buf)
		c.Conn.SetWriteDeadline(time.Time{})
	}
	*c.buf = (*c.buf)[:0]
	if cap(*c.buf) <= corkLimit+4096 {
		corkBufs.Put(c.buf)
	}
	c.buf = nil
	return err
}

// corkingWriter hands the WebSocket library a corkConn when it hijacks the
// connection.
type corkingWriter struct {
	http.ResponseWriter
	timeout time.Duration
	conn    *corkConn // set by Hijack
}

func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &corkConn{Conn: conn, timeout: w.timeout}
	// A fresh writer over the corkConn; the hijacked one holds nothing, as
	// the 101 response was flushed before the hijack. It can be tiny: the
	// corkConn does the buffering, and an idle connection keeps it forever.
	return w.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(w.conn, 64)), nil
}
