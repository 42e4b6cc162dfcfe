package chat

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if a session or dispatcher goroutine outlives the
// tests: every server is closed by its test, and Close waits for them.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaks := leakedGoroutines(); leaks != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaks)
			code = 1
		}
	}
	os.Exit(code)
}

func leakedGoroutines() string {
	// Goroutines of closed connections may take a moment to unwind.
	var leaks []string
	for try := 0; try < 50; try++ {
		buf := make([]byte, 1<<20)
		leaks = leaks[:0]
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "chat.(*session)") || strings.Contains(g, "chat.(*Server).dispatch") {
				leaks = append(leaks, g)
			}
		}
		if len(leaks) == 0 {
			return ""
		}
		time.Sleep(20 * time.Millisecond)
	}
	return strings.Join(leaks, "\n\n")
}
