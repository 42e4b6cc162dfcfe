// Package events delivers server events to the app's endpoints, durably,
// signed and retried: Loft POSTs events (a message stored, a push that
// failed, a device kicked, ...) in batches to every configured Endpoint
// that wants their type, and keeps trying from a durable queue until the
// endpoint takes a batch, refuses it, or it is too old.
//
// # Ownership and concurrency
//
// A *Queue owns its goroutines: Start launches one dispatcher, a fixed
// pool of 8 delivery workers, one finisher that deletes or reschedules
// the jobs they are done with (many per Apply), and Post's flusher; Close
// stops them and waits (for the deliveries in flight too, until its ctx
// ends). Dropped
// deliveries are logged at most once a minute per endpoint and reason.
// Emit, Post and Stats are safe to call concurrently from any goroutine,
// before Start and after Close too: Emit only writes the KV, so an event
// emitted while no Queue runs is delivered by the next one started on the
// same KV. One Queue delivers from a KV at a time.
//
// # Request
//
//	POST <Endpoint.URL>
//	Content-Type: application/json
//	Loft-Delivery-Id: 0193a5c9e2f1a9b1c2d3e4f50612
//	Loft-Signature: t=1772366400,v1=<64 hex digits>
//
//	{"events":[{"id":"0193a5c9e2f1a9b1c2d3e4f50607","type":"message.stored",
//	 "time":"2026-03-01T12:00:00.000Z","data":{...}}, ...]}
//
// A delivery (a job) is a batch of 1 to 100 events for one endpoint, at
// most 256 KiB of body unless one event alone is larger, in the order
// they were emitted; "events" is an array even of one. EmitAll groups the
// events each endpoint wants into such jobs; Post's flusher emits what
// waits for it, up to 1,024 events at a time, so batches are large under
// load and of one event when idle (nothing waits to fill a batch).
// Batches go 8 at a time, so they may arrive out of order.
//
// The signature is the one offlinepush/webhook uses: v1 is the hex
// HMAC-SHA256, keyed with Endpoint.Secret, of the decimal Unix timestamp t,
// a ".", and the raw body; webhook.Verify checks it on the receiving side.
// Every attempt is signed afresh, so a retry carries a new t.
// Loft-Delivery-Id and the body are the same on every attempt of a job: a
// receiver dedupes retries by the delivery id, and events by their id.
//
// # Responses
//
// An answer applies to the whole batch:
//
//   - 2xx: delivered; the job is deleted.
//   - 410 Gone: the endpoint asks to stop receiving these events; dropped.
//   - 408, 429, 5xx, timeouts and network errors: retried with exponential
//     backoff from Config.MinBackoff, with jitter, and never sooner than
//     Retry-After (clamped to an hour), until Config.MaxAttempts attempts
//     or Config.MaxAge after Emit; then dropped and logged.
//   - Anything else (other 4xx, 3xx: redirects are never followed): dropped
//     and logged; the request or the endpoint's configuration is wrong.
//
// Stats counts events (per endpoint), but Retried, which counts failed
// requests.
//
// # Storage
//
// The queue lives in an offlinepush.KV of its own (cmd/loft gives it its
// own history.Table). Record kinds are the first byte of the key:
//
//	'j' be64(due Unix ms) delivery-id 0x00 endpoint-URL -> job
//
// A job's value is binary: a version byte (1), uvarint attempts, varint
// deadline (Unix ms), uvarint event count, then the body's raw bytes. An
// EmitAll writes all its jobs in one Apply. Jobs sort by due time, so the
// dispatcher reads the due ones first and stops at the first that is not;
// a retry deletes the job and writes it under a later due time in one
// Apply. Delivery ids never contain 0x00. A job keeps its body as first
// encoded and the endpoint's URL; the secret is looked up by URL at each
// attempt, so a rotated secret applies to queued jobs, and a job whose URL
// is no longer configured is dropped and logged.
//
// A delivered job leaves a deletion behind, which an LSM store skips only
// by reading it, so the dispatcher does not scan from the start of the
// range: it keeps a lower bound, the due time of the first job it saw (a
// new job is due now, a retried one moves later, and each writer lowers
// the bound past its job once written), and reads from there, as blocks
// of due times sharing a key prefix (KV scans by prefix). It reads the
// whole range when it starts and every 5 minutes.
package events
