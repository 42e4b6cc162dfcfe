package chat

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkDirect is the end-to-end path in one process: pairs of clients
// over real WebSockets, each sender keeping a window of sends in flight,
// every message durable before its ack. It reports delivered msgs/s; the
// load tool (loft bench) gives the figures that count, from its own process.
func BenchmarkDirect(b *testing.B) {
	const pairs, window = 20, 16
	ts := newTestServer(b, func(c *Config) { c.RateLimit = 1e9 })
	body := `{"p":"` + string(bytes.Repeat([]byte("x"), 100)) + `"}`
	type pair struct{ send, recv *client }
	ps := make([]pair, pairs)
	for i := range ps {
		r, _ := ts.login(b, "r"+strconv.Itoa(i), "d")
		r.syncFrom(0)
		s, _ := ts.login(b, "s"+strconv.Itoa(i), "d")
		ps[i] = pair{s, r}
	}
	per := b.N/pairs + 1
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, p := range ps {
		to := "r" + strconv.Itoa(i)
		wg.Add(2)
		go func() { // receiver: count entries
			defer wg.Done()
			got := 0
			for got < per {
				_, data, err := p.recv.conn.Read(context.Background())
				if err != nil {
					b.Error(err)
					return
				}
				got += bytes.Count(data, []byte(`{"pts":`))
			}
		}()
		go func() { // sender: keep the window full
			defer wg.Done()
			acks := make(chan struct{}, window)
			go func() {
				for n := 0; n < per; n++ {
					if _, _, err := p.send.conn.Read(context.Background()); err != nil {
						return
					}
					acks <- struct{}{}
				}
				close(acks)
			}()
			var buf []byte
			for n := 0; n < per; n++ {
				if n >= window {
					<-acks
				}
				buf = append(buf[:0], `{"type":"send","to":"`...)
				buf = append(buf, to...)
				buf = append(buf, `","cid":"`...)
				buf = strconv.AppendInt(buf, int64(n), 10)
				buf = append(buf, `","body":`...)
				buf = append(buf, body...)
				buf = append(buf, '}')
				if err := p.send.conn.Write(context.Background(), websocket.MessageText, buf); err != nil {
					b.Error(err)
					return
				}
			}
			for range acks {
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*pairs)/time.Since(start).Seconds(), "msgs/s")
}
