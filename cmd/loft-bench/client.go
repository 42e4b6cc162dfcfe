package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// dialer opens client connections, spreading them over several loopback
// source addresses so that many thousands of connections do not exhaust one
// address's ephemeral ports.
type dialer struct {
	url     string
	sources int // 127.0.0.1 .. 127.0.0.<sources>

	once sync.Once
	tr   *http.Transport // shared: one per connection costs the tool more than the dial
	next atomic.Uint32
}

// conn is one client connection. Frames written between cork and uncork go
// out in one syscall, so a sender that answers a burst of acks with a burst
// of sends costs the machine (and the server's reader) one write, not one
// per frame. The same client drives Loft and the ceiling relay.
type conn struct {
	ws   *websocket.Conn
	tcp  *corkConn
	rbuf []byte // the last frame read; reused
}

// dialedKey carries a dial's *corkConn slot through the request context to
// the transport's DialContext.
type dialedKey struct{}

func (d *dialer) dial(ctx context.Context) (*conn, error) {
	d.once.Do(func() {
		d.tr = &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				n := d.next.Add(1)
				local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+int(n)%max(d.sources, 1)))}
				nd := net.Dialer{LocalAddr: local}
				c, err := nd.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				cc := &corkConn{Conn: c}
				if slot, ok := ctx.Value(dialedKey{}).(**corkConn); ok {
					*slot = cc
				}
				return cc, nil
			},
			DisableCompression: true,
		}
	})
	var cc *corkConn
	ctx = context.WithValue(ctx, dialedKey{}, &cc)
	ws, _, err := websocket.Dial(ctx, d.url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: d.tr}})
	if err != nil {
		return nil, err
	}
	if cc == nil {
		ws.CloseNow()
		return nil, errors.New("dial: the connection was not made by this dialer")
	}
	ws.SetReadLimit(16 << 20)
	return &conn{ws: ws, tcp: cc}, nil
}

// write sends one text frame.
func (c *conn) write(frame []byte) error {
	return c.ws.Write(context.Background(), websocket.MessageText, frame)
}

// read returns the next text frame; the slice is valid until the next read.
func (c *conn) read(ctx context.Context) ([]byte, error) {
	_, r, err := c.ws.Reader(ctx)
	if err != nil {
		return nil, err
	}
	b := c.rbuf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	c.rbuf = b
	return b, nil
}

func (c *conn) close() { c.ws.Close(websocket.StatusNormalClosure, "") }

// authResult is what the tool needs from `authed`.
type authResult struct {
	cursor, head uint64
}

// login authenticates and, if sync is set, syncs from after and waits for
// `synced`, counting the entries it received on the way.
func (c *conn) login(ctx context.Context, token, device string) (authResult, error) {
	var b []byte
	b = append(b, `{"type":"auth","token":"`...)
	b = append(b, token...)
	b = append(b, `","device":"`...)
	b = append(b, device...)
	b = append(b, `","platform":"bench"}`...)
	if err := c.write(b); err != nil {
		return authResult{}, err
	}
	f, err := c.read(ctx)
	if err != nil {
		return authResult{}, err
	}
	if !bytes.HasPrefix(f, []byte(`{"type":"authed"`)) {
		return authResult{}, fmt.Errorf("auth: %s", short(f))
	}
	return authResult{cursor: jsonUint(f, `"cursor":`), head: jsonUint(f, `"head":`)}, nil
}

// sync asks for the inbox after pts and reads until `synced`, handing every
// entry to onEntry. It returns the pts `synced` reported.
func (c *conn) sync(ctx context.Context, after uint64, onEntry func(pts uint64, f []byte, at int)) (uint64, error) {
	b := strconv.AppendUint([]byte(`{"type":"sync","id":"s","after":`), after, 10)
	if err := c.write(append(b, '}')); err != nil {
		return 0, err
	}
	for {
		f, err := c.read(ctx)
		if err != nil {
			return 0, err
		}
		switch frameType(f) {
		case "messages":
			eachEntry(f, onEntry)
		case "synced":
			return jsonUint(f, `"pts":`), nil
		default:
			return 0, fmt.Errorf("sync: %s", short(f))
		}
	}
}

// frameType returns the type of a frame the server wrote: the server always
// puts "type" first.
func frameType(f []byte) string {
	const p = `{"type":"`
	if !bytes.HasPrefix(f, []byte(p)) {
		return ""
	}
	end := bytes.IndexByte(f[len(p):], '"')
	if end < 0 {
		return ""
	}
	// Returning constants keeps the per-frame path free of allocations.
	switch string(f[len(p) : len(p)+end]) {
	case "messages":
		return "messages"
	case "ack":
		return "ack"
	case "synced":
		return "synced"
	case "error":
		return "error"
	case "authed":
		return "authed"
	}
	return "other"
}

// eachEntry calls fn for each inbox entry of a messages frame with its pts
// and the offset just after it, without decoding the JSON.
func eachEntry(f []byte, fn func(pts uint64, f []byte, at int)) {
	const key = `{"pts":`
	i := 0
	for {
		j := bytes.Index(f[i:], []byte(key))
		if j < 0 {
			return
		}
		i += j + len(key)
		v, n := parseUint(f[i:])
		i += n
		fn(v, f, i)
	}
}

// jsonUint returns the unsigned number after key in f, or 0.
func jsonUint(f []byte, key string) uint64 {
	i := bytes.Index(f, []byte(key))
	if i < 0 {
		return 0
	}
	v, _ := parseUint(f[i+len(key):])
	return v
}

// ackID returns the numeric id of an ack frame (`{"type":"ack","id":"N"`).
func ackID(f []byte) (uint64, bool) {
	const p = `{"type":"ack","id":"`
	if !bytes.HasPrefix(f, []byte(p)) {
		return 0, false
	}
	v, n := parseUint(f[len(p):])
	return v, n > 0
}

func parseUint(b []byte) (v uint64, n int) {
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + uint64(b[n]-'0')
		n++
	}
	return v, n
}

func short(f []byte) string {
	if len(f) > 200 {
		return string(f[:200]) + "..."
	}
	return string(f)
}

// sendFrame appends a send frame with a numeric id and cid n.
func sendFrame(b []byte, to string, n uint64, body []byte) []byte {
	b = append(b, `{"type":"send","id":"`...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, `","to":"`...)
	b = append(b, to...)
	b = append(b, `","cid":"c`...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, `","body":`...)
	b = append(b, body...)
	return append(b, '}')
}

// corkConn buffers writes while corked and sends them with one syscall on
// uncork.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *conn) cork() {
	c.tcp.mu.Lock()
	c.tcp.corked = true
	c.tcp.mu.Unlock()
}

func (c *conn) uncork() error {
	t := c.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	t.corked = false
	if len(t.buf) == 0 {
		return nil
	}
	_, err := t.Conn.Write(t.buf)
	t.buf = t.buf[:0]
	return err
}

// errClosed reports whether err is the end of a connection rather than a
// failure worth reporting.
func errClosed(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed) ||
		websocket.CloseStatus(err) != -1 || errors.Is(err, io.EOF)
}

// since is a monotonic clock shared by senders and receivers of this
// process, in nanoseconds.
var epoch = time.Now()

func since() int64 { return int64(time.Since(epoch)) }
