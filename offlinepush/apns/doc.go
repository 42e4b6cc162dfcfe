// Package apns sends Loft's offline pushes to iPhones and iPads through
// the Apple Push Notification service (APNs) HTTP/2 provider API.
//
// # Protocol
//
// Each notification is one POST to /3/device/{device token} on
// api.push.apple.com (api.sandbox.push.apple.com for development builds,
// Config.Development) with the headers apns-topic (the bundle ID),
// apns-push-type, apns-priority, apns-expiration and apns-collapse-id, and
// the JSON payload {"aps":{...}, data keys...}, as Apple's "Sending
// notification requests to APNs" describes. A Notification maps so:
//
//   - Title, Body: aps.alert.title and aps.alert.body, apns-push-type
//     alert, apns-priority 10 when High and 5 otherwise, aps.sound
//     (Sound, or "default"), aps.badge (Badge), aps.thread-id (CollapseKey,
//     so that one conversation's pushes group together).
//   - Silent, or no Title and Body: a background push, as "Pushing
//     background updates to your App" requires: aps.content-available 1,
//     apns-push-type background, apns-priority 5, and no alert, sound or
//     badge.
//   - Data: top-level keys beside "aps" (a Data key named "aps" is
//     dropped: the dictionary is Apple's).
//   - CollapseKey: apns-collapse-id, or its SHA-256 in hex when longer than
//     APNs' 64 bytes, so that the same key still collapses.
//   - TTL: apns-expiration, the Unix time after which APNs stops trying;
//     none when 0 (APNs' default storage).
//
// The payload of a regular notification may be at most 4096 bytes
// (MaxPayload). Send cuts the title and body (the longer first) with
// offlinepush.Truncate until it fits; only Data too large to fit on its
// own fails, with KindPayload, without a request. Notification.Credential
// is not read: one Client is one key and one topic.
//
// # Authentication
//
// Token-based ("Establishing a token-based connection to APNs"): every
// request carries "authorization: bearer" and a JWT signed with the .p8 key
// (ES256, header kid = Key ID, claims iss = Team ID and iat). APNs refuses
// a token older than an hour (ExpiredProviderToken) and a provider that
// changes its token more often than every 20 minutes
// (TooManyProviderTokenUpdates), so a token is signed once and reused for
// 50 minutes by every Send. An ExpiredProviderToken answer makes Send sign
// a new token and post once more; a token younger than 20 minutes is not
// replaced, since APNs then means this host's clock is wrong, which a new
// token cannot fix, and the answer is KindAuth.
//
// # Errors
//
// Error.Code is APNs' "reason" and Error.Status the HTTP status, following
// "Handling notification responses from APNs":
//
//   - KindTokenInvalid: BadDeviceToken (400; also a token of the other
//     environment), DeviceTokenNotForTopic (400), MissingDeviceToken (400),
//     Unregistered and ExpiredToken (410; Error.Err gives the timestamp
//     since which the token was inactive). Apple says not to retry these.
//   - KindPayload: PayloadTooLarge (413), PayloadEmpty, BadCollapseId,
//     BadExpirationDate, BadMessageId, BadPriority, DuplicateHeaders,
//     InvalidPushType (400); any other 400.
//   - KindAuth: InvalidProviderToken, MissingProviderToken,
//     ExpiredProviderToken after the one refresh, BadCertificate,
//     BadCertificateEnvironment, Forbidden, UnrelatedKeyIdInToken,
//     BadEnvironmentKeyIdInToken (403); BadTopic, MissingTopic,
//     TopicDisallowed (400); BadPath (404); MethodNotAllowed (405).
//   - KindRetry: TooManyProviderTokenUpdates and TooManyRequests (429),
//     InternalServerError (500), ServiceUnavailable and Shutdown (503),
//     IdleTimeout (400), a connection error or timeout; RetryAfter from a
//     Retry-After header when APNs sends one (Apple asks for a back-off, and
//     15 minutes before resending after a 5xx).
//
// A reason not listed falls back on the status: 410 token invalid;
// 401, 403, 404, 405 auth; 429 and 5xx retry; other 4xx payload. Send never
// retries a push itself.
//
// # Why net/http and not sideshow/apns2
//
// The client is the standard library's: its Transport speaks HTTP/2 (the
// default client allows nothing else) and pings idle connections
// (http.HTTP2Config), the provider JWT is a few lines of crypto/ecdsa, and
// owning the token lets it run on Config.Now, which tests control, and
// refresh exactly once on ExpiredProviderToken. sideshow/apns2 would add
// its own transport and a token cache tied to the wall clock for no
// behaviour this package lacks.
//
// A Client is safe for concurrent use; it holds no goroutines, and its
// HTTP client's idle connections are the caller's to close.
package apns
