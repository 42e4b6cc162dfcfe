package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// relay is the ceiling: a bare coder/websocket router with no auth and no
// storage, one goroutine per connection and one write per frame. It speaks
// just enough of Loft's protocol for the same load to run against it: the
// auth token is taken as the user id, sync is answered at once, and a send
// is forwarded as a one-entry messages frame and acked.
type relay struct {
	mu    sync.RWMutex
	users map[string]*relayConn // guarded by mu
}

type relayConn struct {
	ws  *websocket.Conn
	mu  sync.Mutex // serialises pts with the write that carries it
	pts uint64     // guarded by mu
}

func (rl *relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	c := &relayConn{ws: ws}
	var user string
	defer func() {
		rl.mu.Lock()
		if rl.users[user] == c {
			delete(rl.users, user)
		}
		rl.mu.Unlock()
		ws.CloseNow()
	}()
	ctx := context.Background()
	var out []byte
	for {
		_, f, err := ws.Read(ctx)
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(f, []byte(`{"type":"auth"`)):
			user = string(field(f, `"token":"`))
			rl.mu.Lock()
			rl.users[user] = c
			rl.mu.Unlock()
			err = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"authed","cursor":0,"head":0}`))
		case bytes.HasPrefix(f, []byte(`{"type":"sync"`)):
			err = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"synced","id":"s","pts":0}`))
		case bytes.HasPrefix(f, []byte(`{"type":"send"`)):
			id, to := field(f, `"id":"`), field(f, `"to":"`)
			i := bytes.Index(f, []byte(`"body":`))
			if i < 0 {
				continue
			}
			body := f[i+len(`"body":`) : len(f)-1]
			rl.mu.RLock()
			dst := rl.users[string(to)]
			rl.mu.RUnlock()
			if dst != nil {
				dst.mu.Lock()
				dst.pts++
				out = append(out[:0], `{"type":"messages","messages":[{"pts":`...)
				out = strconv.AppendUint(out, dst.pts, 10)
				out = append(out, `,"body":`...)
				out = append(out, body...)
				out = append(out, "}]}"...)
				err := dst.ws.Write(ctx, websocket.MessageText, out)
				dst.mu.Unlock()
				if err != nil {
					continue
				}
			}
			out = append(out[:0], `{"type":"ack","id":"`...)
			out = append(out, id...)
			out = append(out, `"}`...)
			err = ws.Write(ctx, websocket.MessageText, out)
		}
		if err != nil {
			return
		}
	}
}

// field returns the string value after key (which ends in the opening quote).
func field(f []byte, key string) []byte {
	i := bytes.Index(f, []byte(key))
	if i < 0 {
		return nil
	}
	v := f[i+len(key):]
	if j := bytes.IndexByte(v, '"'); j >= 0 {
		return v[:j]
	}
	return nil
}

// runRelayCommand serves the relay until ctx ends: `loft-bench relay`.
func runRelayCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("loft-bench relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: &relay{users: map[string]*relayConn{}}}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	// The parent reads this line for the address.
	fmt.Fprintf(os.Stdout, "relay listening %s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startRelay runs the relay as a child process, so that its CPU and memory
// are measured apart from the tool's, as the server's are. stop ends it.
func startRelay(ctx context.Context) (addr string, p *proc, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, nil, err
	}
	cmd := exec.Command(exe, "relay", "--listen", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the tool
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, nil, err
	}
	stop = func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, nil, fmt.Errorf("relay did not start: %w", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "relay listening ")
	if !ok {
		stop()
		return "", nil, nil, fmt.Errorf("relay said %q", line)
	}
	return addr, &proc{pid: cmd.Process.Pid}, stop, nil
}
