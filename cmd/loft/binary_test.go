package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The process tests run the real loft binary as a child process: built
// once per test run, without -race, so that it is as fast as in production.

var (
	binOnce sync.Once
	binDir  string // removed by TestMain
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// loftBinary builds ./cmd/loft on first use and returns its path. The test
// runs in the package directory, so "." is the command's package.
func loftBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "loft-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "loft")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// testSecret is the HS256 secret every test server is started with, so that
// tests mint their own tokens.
const testSecret = "process-test-secret-0123456789abcdef"

func mintToken(tb testing.TB, user string) string {
	tb.Helper()
	claims := jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// loftProc is one running loft process.
type loftProc struct {
	tb      testing.TB
	cmd     *exec.Cmd
	addr    string // host:port it listens on
	log     *procLog
	exited  chan struct{} // closed when the process has exited
	err     error         // cmd.Wait's result, set before exited is closed
	stopped bool          // kill or term ended it
}

// startLoft starts the binary on dataDir, listening on a free loopback port,
// and waits until it logs its address. The process is killed when the test
// ends if it still runs. The server accepts a high frame rate and queues
// many frames for a slow client, so that load from a test client slowed by
// -race on a busy machine meets neither the rate limit nor the 4003 close.
func startLoft(tb testing.TB, dataDir string, extraFlags ...string) *loftProc {
	tb.Helper()
	cmd := exec.Command(loftBinary(tb), append([]string{
		"--listen", "127.0.0.1:0",
		"--data", dataDir,
		"--jwt-secret", testSecret,
		"--log-level", "info",
		"--rate-limit", "1000000",
		"--send-queue", "100000",
	}, extraFlags...)...)
	// Only the flags above configure it: no LOFT_* from the environment.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOFT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	p := &loftProc{tb: tb, cmd: cmd, log: &procLog{ready: make(chan string, 1)}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start loft: %v", err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		running := false
		select {
		case <-p.exited:
		default:
			running = true
			cmd.Process.Kill()
			<-p.exited
		}
		// A failed test shows the logs of the processes it did not end
		// itself and of those that logged trouble; a cycle test starts
		// dozens.
		if tb.Failed() && (running || !p.stopped || p.log.troubled()) {
			tb.Logf("loft pid %d log (tail):\n%s", cmd.Process.Pid, p.log.tail(4096))
		}
	})
	select {
	case p.addr = <-p.log.ready:
	case <-p.exited:
		tb.Fatalf("loft exited before listening: %v\n%s", p.err, p.log.tail(4096))
	case <-time.After(30 * time.Second):
		tb.Fatalf("loft did not log its address within 30 s:\n%s", p.log.tail(4096))
	}
	return p
}

// kill ends the process with SIGKILL, as a crash or power cut would, and
// waits until it is gone.
func (p *loftProc) kill() {
	p.tb.Helper()
	p.stopped = true
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.tb.Fatalf("SIGKILL: %v", err)
	}
	p.wait(30 * time.Second)
}

// term sends SIGTERM and returns the exit error (nil: status 0).
func (p *loftProc) term() error {
	p.tb.Helper()
	p.stopped = true
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.tb.Fatalf("SIGTERM: %v", err)
	}
	p.wait(30 * time.Second)
	return p.err
}

func (p *loftProc) wait(d time.Duration) {
	p.tb.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.exited
		p.tb.Fatalf("loft did not exit within %v", d)
	}
}

// procLog collects a process's output and finds the address it listens on
// in the line `msg="loft listening" addr=http://HOST:PORT`.
type procLog struct {
	mu    sync.Mutex
	buf   []byte // guarded by mu: the output, or its tail past 1 MiB
	found bool   // guarded by mu
	ready chan string
}

var listeningRE = regexp.MustCompile(`msg="loft listening" addr=http://([^\s]+)`)

func (l *procLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if !l.found {
		if m := listeningRE.FindSubmatch(l.buf); m != nil {
			l.found = true
			l.ready <- string(m[1])
		}
	}
	if len(l.buf) > 1<<20 {
		l.buf = append([]byte(nil), l.buf[len(l.buf)-(512<<10):]...)
	}
	return len(p), nil
}

// troubled reports whether the process logged a warning, an error or a
// panic.
func (l *procLog) troubled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.buf, []byte("level=WARN")) || bytes.Contains(l.buf, []byte("level=ERROR")) || bytes.Contains(l.buf, []byte("panic:"))
}

func (l *procLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// testRand returns a random source seeded from LOFTTEST_SEED, or from the
// clock; the seed is logged so that a failing run's timing can be replayed.
func testRand(tb testing.TB) *rand.Rand {
	tb.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LOFTTEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("LOFTTEST_SEED: %v", err)
		}
		seed = v
	}
	tb.Logf("seed %d (rerun with LOFTTEST_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
