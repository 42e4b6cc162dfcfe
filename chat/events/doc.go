// Package events delivers server events to the app's endpoints, durably,
// signed and retried: Loft POSTs each event (a message stored, a push that
// failed, a device kicked, ...) to every configured Endpoint that wants its
// type, and keeps trying from a durable queue until the endpoint takes it,
// refuses it, or the event is too old.
//
// # Ownership and concurrency
//
// A *Queue owns its goroutines: Start launches one dispatcher and a fixed
// pool of 8 delivery workers, and Close stops them and waits (for the
// deliveries in flight too, until its ctx ends). Dropped deliveries are
// logged at most once a minute per endpoint and reason. Emit and Stats
// are safe to call concurrently from any goroutine, before Start and after
// Close too: Emit only writes the KV, so an event emitted while no Queue
// runs is delivered by the next one started on the same KV.
//
// # Request
//
//	POST <Endpoint.URL>
//	Content-Type: application/json
//	Loft-Event-Id: 0193a5c9e2f1a9b1c2d3e4f50607
//	Loft-Signature: t=1772366400,v1=<64 hex digits>
//
//	{"id":"0193a5c9e2f1a9b1c2d3e4f50607","type":"message.stored",
//	 "time":"2026-03-01T12:00:00.000Z","data":{...}}
//
// The signature is the one offlinepush/webhook uses: v1 is the hex
// HMAC-SHA256, keyed with Endpoint.Secret, of the decimal Unix timestamp t,
// a ".", and the raw body; webhook.Verify checks it on the receiving side.
// Every attempt is signed afresh, so a retry carries a new t. Loft-Event-Id
// is the same on every attempt: a receiver dedupes retries by it.
//
// # Responses
//
//   - 2xx: delivered; the job is deleted.
//   - 410 Gone: the endpoint asks to stop receiving this event; dropped.
//   - 408, 429, 5xx, timeouts and network errors: retried with exponential
//     backoff from Config.MinBackoff, with jitter, and never sooner than
//     Retry-After (clamped to an hour), until Config.MaxAttempts attempts
//     or Config.MaxAge after Emit; then dropped and logged.
//   - Anything else (other 4xx, 3xx: redirects are never followed): dropped
//     and logged; the request or the endpoint's configuration is wrong.
//
// # Storage
//
// The queue lives in an offlinepush.KV of its own (cmd/loft gives it its
// own history.Table). Record kinds are the first byte of the key:
//
//	'j' be64(due Unix ms) event-id 0x00 endpoint-URL -> job (JSON)
//
// One job per (event, endpoint). Jobs sort by due time, so the dispatcher
// reads the due ones first and stops at the first that is not; a retry
// deletes the job and writes it under its new due time in one Apply. Event
// ids never contain 0x00. A job keeps its body as first encoded and the
// endpoint's URL; the secret is looked up by URL at each attempt, so a
// rotated secret applies to queued jobs, and a job whose URL is no longer
// configured is dropped and logged.
package events
