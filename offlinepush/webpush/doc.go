// Package webpush sends Loft's offline pushes to browsers through the Web
// Push protocol: RFC 8030 (the request), RFC 8291 with RFC 8188's
// aes128gcm coding (payload encryption) and RFC 8292 (VAPID). It
// implements offlinepush.Vendor; a *Client is safe for concurrent use.
//
// # Tokens
//
// A web device's token is its browser's PushSubscription as JSON,
// {"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}, as the page gets
// it from pushManager.subscribe (whose applicationServerKey is
// Config.VAPIDPublicKey). There is no BaseURL: every subscription names its
// own push service (Google's for Chrome, Mozilla's autopush for Firefox,
// Apple's for Safari, WNS for Edge). A token that does not parse, has no
// https endpoint, a p256dh that is not a P-256 point or an auth secret that
// is not 16 bytes is KindTokenInvalid before anything is sent.
//
// # Request
//
// Send POSTs to the endpoint with the encrypted body and:
//
//   - TTL: Notification.TTL in seconds, or Config.DefaultTTL (4 weeks);
//     RFC 8030 section 5.2 requires the header, so it is always sent.
//   - Urgency: "high" for a High push, otherwise "normal"; silent pushes
//     stay "normal", since "low" may hold them until the device charges.
//   - Topic: for a CollapseKey, 32 base64url characters of its SHA-256
//     (RFC 8030 section 5.4 allows at most 32), so a newer push of the same
//     conversation replaces a pending older one at the push service.
//   - Authorization: vapid t=<JWT>, k=<public key>. The ES256 JWT's aud is
//     the endpoint's origin, exp 12 hours ahead (RFC 8292 allows 24), sub
//     Config.Subscriber. One token is signed per origin and reused for 6
//     hours.
//
// The plaintext is the JSON the service worker renders:
// {"title", "body", "data": {...}, "badge", "tag"}, where data is always
// there (Notification.Data, at least {}), badge is the unread count (for
// navigator.setAppBadge, not the Notification API's badge image) and tag
// the CollapseKey (showNotification's tag, which replaces a shown
// notification of the same conversation). A silent push has no title and
// body and "silent": true; browsers require a visible notification per
// push, so the worker decides what to show for it.
//
// # Size
//
// RFC 8030 section 7.2 says a push service must accept a body of 4096
// bytes; Config.MaxBody can lower that. The body is the plaintext plus 103
// bytes (the 86-byte aes128gcm header, the padding delimiter and the GCM
// tag), so the preview is cut (the body first, then the title, with
// offlinepush.Truncate) until the whole fits. Data is never cut: data too
// large to fit is KindPayload and nothing is sent. No padding is added:
// padding every push to 4096 bytes is what Mozilla's push service refuses
// with 413 for its bridged mobile delivery (webpush-go issue 23).
//
// # Errors
//
// The push services answer with HTTP statuses (RFC 8030 section 7, the
// autopush "Error Codes" page, Apple's "Sending web push notifications in
// web apps and browsers", Google's "Web Push: Common Issues"):
//
//   - 2xx (201 Created): accepted.
//   - 404, 410: the subscription is expired or unsubscribed:
//     KindTokenInvalid. So is 301/308, autopush's answer for a bridged
//     subscription that moved (redirects are never followed: a redirected
//     POST would lose its body); the browser re-subscribes.
//   - 401, 403: VAPID rejected (bad signature, a key other than the one the
//     browser subscribed with, Apple's BadJwtToken): KindAuth. So is a 400
//     whose body says UnauthorizedRegistration, Google's way of saying the
//     same.
//   - 413 and other 400s and 4xx: KindPayload.
//   - 429, 408, 5xx, network errors and timeouts: KindRetry, RetryAfter
//     from Retry-After.
//
// Error.Code is Apple's "reason" or autopush's "errno" when the body has
// one; the body's text (cut to 200 bytes) is in Error.Err.
//
// # Why not webpush-go
//
// go.mod has github.com/SherClockHolmes/webpush-go, and its encryption is
// right, but v1.4.0 pads every message to the full record size (the 413s
// above), turns a Subscriber of "mailto:x@y" into "mailto:mailto:x@y"
// (Apple answers 403 BadJwtToken), ignores its VapidExpiration option and
// reads the wall clock for exp, signs a new JWT per push, and uses the
// deprecated crypto/elliptic point arithmetic. Since Go 1.24 the standard
// library has every piece (crypto/ecdh, crypto/hkdf, crypto/aes and
// crypto/cipher, crypto/ecdsa), so this package encrypts and signs itself,
// in two small files (encrypt.go, vapid.go); its tests reproduce RFC 8291 section 5's example
// byte for byte and decrypt every push with an independent receiver.
//
// Every endpoint comes from a client, so only https endpoints are posted
// to; a deployment that must keep Loft from reaching internal https hosts
// should also restrict egress.
package webpush
