package events

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

// TestMain fails the run if a Queue goroutine outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(2 * time.Second)
		for {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			if !strings.Contains(stacks, "chat/events.(*Queue)") {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintln(os.Stderr, "leaked goroutines:\n"+stacks)
				code = 1
				break
			}
			runtime.Gosched()
			time.Sleep(10 * time.Millisecond) // polling for goroutines to exit, not a test clock
		}
	}
	os.Exit(code)
}

// memKV is an in-memory offlinepush.KV.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte // guarded by mu
}

var _ offlinepush.KV = (*memKV)(nil)

func newMemKV() *memKV { return &memKV{m: make(map[string][]byte)} }

func (kv *memKV) Get(key []byte) ([]byte, bool, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, ok := kv.m[string(key)]
	return bytes.Clone(v), ok, nil
}

func (kv *memKV) Scan(prefix []byte, fn func(key, value []byte) error) error {
	kv.mu.Lock()
	var keys []string
	for k := range kv.m {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = bytes.Clone(kv.m[k])
	}
	kv.mu.Unlock()
	for i, k := range keys {
		if err := fn([]byte(k), vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (kv *memKV) Apply(ctx context.Context, ops ...offlinepush.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	for _, op := range ops {
		if op.Delete {
			delete(kv.m, string(op.Key))
		} else {
			kv.m[string(op.Key)] = bytes.Clone(op.Value)
		}
	}
	return nil
}

// len returns how many records kv holds.
func (kv *memKV) len() int {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return len(kv.m)
}
