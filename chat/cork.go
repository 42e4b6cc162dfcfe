package chat

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// readBufSize is the pooled buffer a busy connection reads into: a few
// typical frames.
const readBufSize = 2048

// libReadBufSize is the WebSocket library's own read buffer, kept by every
// connection: room for a frame header.
const libReadBufSize = 64

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

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
	// raw waits for readability; nil if the socket has no raw access.
	raw syscall.RawConn
	// rbuf[rbeg:rend] is read but not yet returned; rbuf is pooled and
	// nil when empty. Owned by the reader goroutine.
	rbuf       *[]byte
	rbeg, rend int

	mu     sync.Mutex
	corked bool    // guarded by mu
	buf    *[]byte // guarded by mu: pooled while corked and holding data
}

// Read serves what the socket has from a pooled buffer that the connection
// holds only while it has unread bytes: it waits for readability with no
// buffer, so an idle connection holds none (the WebSocket library's own
// reader is tiny). A read of a whole buffer or more goes straight through.
func (c *corkConn) Read(p []byte) (int, error) {
	if len(c.unread) > 0 {
		n := copy(p, c.unread)
		c.unread = c.unread[n:]
		return n, nil
	}
	if c.rbuf != nil {
		return c.readBuffered(p), nil
	}
	if c.raw == nil || len(p) >= readBufSize {
		return c.Conn.Read(p)
	}
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		b := readBufs.Get().(*[]byte)
		for {
			n, rerr = syscall.Read(int(fd), *b)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			readBufs.Put(b)
			return false // not readable yet: wait without a buffer
		}
		if n > 0 {
			c.rbuf, c.rbeg, c.rend = b, 0, n
		} else {
			readBufs.Put(b)
		}
		return true
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", rerr)}
	case n == 0:
		return 0, io.EOF
	}
	return c.readBuffered(p), nil
}

// readBuffered copies from the pooled buffer and returns it once drained.
func (c *corkConn) readBuffered(p []byte) int {
	n := copy(p, (*c.rbuf)[c.rbeg:c.rend])
	c.rbeg += n
	if c.rbeg == c.rend {
		readBufs.Put(c.rbuf)
		c.rbuf = nil
	}
	return n
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
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.conn.raw = raw
		}
	}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		w.conn.unread = bytes.Clone(b)
	}
	// Fresh buffers over the corkConn, far smaller than net/http's 4 KiB
	// ones, since an idle connection keeps them forever: the corkConn does
	// the buffering both ways, from pools, only while there is data. The
	// hijacked writer holds nothing, as the 101 response was flushed
	// before the hijack.
	return w.conn, bufio.NewReadWriter(bufio.NewReaderSize(w.conn, libReadBufSize), bufio.NewWriterSize(w.conn, 64)), nil
}
