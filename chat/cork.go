package chat

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"sync"
	"time"
)

// readBufSize is a connection's read buffer: a few typical frames.
const readBufSize = 2048

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

	// unread holds bytes the HTTP server had read past the upgrade
	// request; Read returns them first. Only the reader goroutine reads.
	unread []byte

	mu     sync.Mutex
	corked bool    // guarded by mu
	buf    *[]byte // guarded by mu: pooled while corked and holding data
}

func (c *corkConn) Read(p []byte) (int, error) {
	if len(c.unread) > 0 {
		n := copy(p, c.unread)
		c.unread = c.unread[n:]
		return n, nil
	}
	return c.Conn.Read(p)
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
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		w.conn.unread = bytes.Clone(b)
	}
	// Fresh buffers over the corkConn, smaller than net/http's 4 KiB ones,
	// since an idle connection keeps them forever. The writer can be tiny:
	// the corkConn does the buffering. The hijacked writer holds nothing,
	// as the 101 response was flushed before the hijack.
	return w.conn, bufio.NewReadWriter(bufio.NewReaderSize(w.conn, readBufSize), bufio.NewWriterSize(w.conn, 64)), nil
}
