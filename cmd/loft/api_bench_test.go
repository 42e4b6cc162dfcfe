package main

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkAPIMessageToEveryone times POST /v1/messages {"all":true} on
// the real binary to 5,000 users who have logged in: one op is one request,
// and msgs/s is the recipients stored per second (go test -bench
// APIMessageToEveryone -benchtime 5x ./cmd/loft/).
func BenchmarkAPIMessageToEveryone(b *testing.B) {
	keys := writeFile(b, "keys.json", `[{"name":"b","secret":"backend-secret-0123456789","scopes":["send"]}]`)
	p := startLoft(b, b.TempDir(), "--api-keys", keys, "--push-vendors", "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const users = 5000
	for i := range users {
		c, err := dialClient(ctx, p.addr, mintToken(b, fmt.Sprint("u", i)), "phone")
		if err != nil {
			b.Fatal(err)
		}
		c.close()
	}
	for deadline := time.Now().Add(30 * time.Second); ; { // logins record their devices a moment later
		_, res := callJSON(b, "POST", "http://"+p.addr+"/v1/messages", "backend-secret-0123456789", `{"all":true,"body":{"text":"warm-up"}}`)
		if len(res["messages"].([]any)) == users {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d users known", len(res["messages"].([]any)))
		}
	}
	b.ResetTimer()
	for range b.N {
		code, res := callJSON(b, "POST", "http://"+p.addr+"/v1/messages", "backend-secret-0123456789", `{"all":true,"body":{"text":"maintenance at 2"}}`)
		if code != 201 || len(res["messages"].([]any)) != users {
			b.Fatalf("%d, %d messages", code, len(res["messages"].([]any)))
		}
	}
	b.ReportMetric(float64(b.N*users)/b.Elapsed().Seconds(), "msgs/s")
}
