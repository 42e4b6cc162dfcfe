package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// loftProcess is a Loft server the tool started (--server), on a fresh
// data directory, so that each scenario measures a server in the same
// state: memory figures start from an idle process, stores from empty.
type loftProcess struct {
	cmd *exec.Cmd
	dir string
	url string
}

var listenLine = regexp.MustCompile(`loft listening"? addr=http://(\S+)`)

// startLoft runs the server binary at path with extra flags.
func startLoft(path string, extra []string) (*loftProcess, error) {
	dir, err := os.MkdirTemp("", "loft-bench-*")
	if err != nil {
		return nil, err
	}
	args := append([]string{"--data", dir, "--listen", "127.0.0.1:0", "--log-level", "info"}, extra...)
	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the tool
	stderr, err := cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &loftProcess{cmd: cmd, dir: dir}
	found := make(chan string, 1)
	go func() {
		// Read the address, then keep draining so the server never
		// blocks on a full pipe; its log goes to DIR/server.log.
		log, _ := os.Create(filepath.Join(dir, "server.log"))
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			if log != nil {
				fmt.Fprintln(log, sc.Text())
			}
		}
		io.Copy(io.Discard, stderr)
		if log != nil {
			log.Close()
		}
		close(found)
	}()
	select {
	case addr, ok := <-found:
		if !ok {
			p.stop()
			return nil, fmt.Errorf("%s exited before listening", path)
		}
		p.url = "ws://" + addr + "/v1/ws"
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s did not start listening within 30 s", path)
	}
	return p, nil
}

// startServer starts the --server binary afresh with --server-flags and
// extra, and points e at it: its URL, pid and secret. The caller stops it.
func (e *env) startServer(extra ...string) (*loftProcess, error) {
	srv, err := startLoft(e.opt.Server, append(strings.Fields(e.opt.ServerFlags), extra...))
	if err != nil {
		return nil, err
	}
	secret, err := srv.secret()
	if err != nil {
		srv.stop()
		return nil, err
	}
	e.dial = &dialer{url: srv.url, sources: e.opt.Sources}
	e.server = &proc{pid: srv.cmd.Process.Pid}
	e.secret = secret
	return srv, nil
}

func (p *loftProcess) secret() ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(p.dir, "jwt-secret"))
	return []byte(strings.TrimSpace(string(data))), err
}

// stop shuts the server down (SIGTERM, then SIGKILL) and removes its data.
func (p *loftProcess) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(p.dir)
}
