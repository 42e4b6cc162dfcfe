// Package webhook hands Loft's offline pushes to an app that sends its own:
// each Notification is POSTed, signed, as JSON to the app's configured URL,
// and the app's push service takes it from there. It implements
// offlinepush.Vendor; a *Client is safe for concurrent use, and Verify is
// the receiving side's check.
//
// # Request
//
//	POST <Config.URL>
//	Content-Type: application/json
//	Loft-Signature: t=1772366400,v1=<64 hex digits>
//
//	{"token": "...", "platform": "android", "credential": "", "title": "Ann",
//	 "body": "lunch?", "data": {"conv": "c1", "seq": "42", "msg_id": "m9"},
//	 "badge": 3, "collapse_key": "conv:c1", "silent": false, "sound": "",
//	 "ttl_seconds": 0, "high": true}
//
// Every field is always present (Payload): badge is null to leave the
// badge as it is, data is always an object, ttl_seconds 0 means the app's
// default. The JSON is at most Config.MaxBody bytes (4096, so it can be
// forwarded as one APNs or FCM payload): a longer preview is cut, the body
// first, then the title, with offlinepush.Truncate; a notification whose
// other fields alone do not fit is KindPayload and is not sent.
//
// # Verifying a request
//
// v1 is the hex HMAC-SHA256, keyed with Config.Secret, of the decimal
// timestamp t, a ".", and the raw body, exactly as received. A receiver
// recomputes it over the raw body (before decoding the JSON), compares in
// constant time, and refuses a t more than a few minutes from its own
// clock, which bounds replays; Verify does all of that. A receiver that
// must refuse every replay also remembers the signatures it accepted
// within the tolerance. Each attempt is signed afresh, so a push the
// queue retries carries a new t. More than one v1 may appear (for a
// future secret rotation); one matching is enough. Answer 401 to a request
// that fails the check.
//
// # Responses
//
// The receiver's status says what Loft's queue should do:
//
//   - 2xx: delivered.
//   - 410: the token is gone: KindTokenInvalid (Loft removes it).
//   - 429, 408, 5xx, timeouts and network errors: KindRetry, no sooner
//     than Retry-After (seconds or an HTTP date).
//   - 400, 413, 422 and other 4xx: KindPayload (the push is dropped).
//   - 401, 403: the secret is wrong: KindAuth. So are 404, 405 and 3xx
//     (redirects are not followed): the URL is wrong. KindAuth stops the
//     vendor until it is reconfigured.
//
// A JSON body {"error": "<code>"} puts the code in Error.Code; the body's
// text (cut to 200 bytes) is in Error.Err.
package webhook
