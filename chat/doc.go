// Package chat is Loft's WebSocket core: it authenticates clients, runs one
// session per connection, stores what they send through a Store, and routes
// committed messages, receipts and kicks to the sessions of every user they
// concern.
//
// # Ownership and concurrency
//
// A Server owns its sessions and one dispatcher goroutine. Each session owns
// two goroutines: the reader (the HTTP handler's goroutine) and one writer fed
// by a bounded queue; a session whose queue overflows is closed with
// CloseSlow and catches up later by syncing from its cursor, so a slow client
// never blocks the store, the dispatcher or other clients. Close stops
// accepting frames, lets in-flight sends finish, closes every socket with
// 1001 and waits for every goroutine; it is safe to call twice.
//
// The Server talks to storage, routing and presence through small interfaces
// declared here (Store, Router, Presence), so that a clustered router can
// replace the in-process one without touching the protocol code. The wire
// protocol is documented in docs/protocol.md.
package chat
