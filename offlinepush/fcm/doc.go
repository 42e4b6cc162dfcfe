// Package fcm sends Loft's offline pushes to Android phones (and to Apple
// devices registered with Firebase) through Firebase Cloud Messaging's
// HTTP v1 API, with the Firebase Admin Go SDK's messaging client.
//
// # Protocol
//
// Each notification is one POST to
// {BaseURL}/v1/projects/{project}/messages:send with a v1 Message ("REST
// Resource: projects.messages" in the FCM HTTP v1 reference). A
// Notification maps so:
//
//   - Title, Body: notification.title and notification.body, which FCM
//     shows on Android and turns into the APNs alert on Apple devices.
//   - Silent, or no Title and Body: a data-only message, with no
//     notification block: the app wakes and syncs without showing
//     anything. On Apple devices: aps.content-available 1, apns-push-type
//     background, apns-priority 5, no alert, sound or badge (APNs' rules
//     for a background push).
//   - Data: data, always, as the string map FCM requires.
//   - Badge: android.notification.notification_count, aps.badge.
//   - CollapseKey: android.collapse_key and android.notification.tag
//     (the newest push of a conversation replaces the shown one),
//     apns-collapse-id and aps.thread-id (its SHA-256 in hex when longer
//     than APNs' 64 bytes). FCM keeps at most four collapse keys per
//     device while it is offline; a push is a wake-up, so losing older
//     stored ones costs nothing.
//   - TTL: android.ttl (at most FCM's 4 weeks) and apns-expiration; FCM's
//     default (4 weeks) when 0.
//   - High: android.priority "high" (else "normal"), apns-priority 10
//     (else 5) for an alert.
//   - Sound: android.notification.sound and aps.sound, "default" when
//     empty.
//
// The android block goes to Platform "android", the apns block to "ios",
// both when the platform is anything else. Notification.Credential is not
// read: one Client is one service account and one project.
//
// FCM refuses a message whose payload passes 4096 bytes ("Message too
// big", INVALID_ARGUMENT). Send keeps the whole encoded message, not just
// the notification and data FCM counts, under MaxPayload, cutting the
// title and body with offlinepush.Truncate; only Data too large to fit on
// its own fails, with KindPayload, without a request.
//
// # Authentication
//
// A service account key (Config.CredentialsJSON) signs an RS256 JWT for the
// scope https://www.googleapis.com/auth/firebase.messaging, exchanged at
// the key's token_uri (Config.AuthURL) for an OAuth 2.0 access token, as
// Google's "Using OAuth 2.0 for Server to Server Applications" describes.
// The token (valid for an hour) is cached and shared by every Send; it is
// replaced a minute before it expires, or when FCM answers 401
// UNAUTHENTICATED, after which Send sends once more with the new token.
// The token endpoint's 400 invalid_grant, 401 invalid_client and 403 are
// KindAuth with Error.Code the OAuth error; its 429 and 5xx are KindRetry.
//
// This package signs and exchanges the JWT itself rather than through the
// SDK's credential options: the SDK authenticates only the HTTP client it
// builds, while Loft hands it Config.HTTPClient (for timeouts, and for the
// tests' fake server), and owning the token lets it run on Config.Now and
// be replaced when FCM rejects it.
//
// # The SDK's retries
//
// The Admin SDK retries connection errors and 503 answers itself, up to
// four times with back-off, and has no option to stop. Send must not retry
// (Loft's queue does, with backoff), so the transport given to the SDK
// lets each Send make exactly one request: once that request has its
// answer, it cancels the context the SDK would wait on before retrying,
// and Send maps the answer the transport kept.
//
// # Errors
//
// Error.Code is FCM's own code (the FcmError detail's errorCode), else the
// Google API status; Error.Status the HTTP status. Following "FCM error
// codes" (ErrorCode in the FCM HTTP v1 reference), with the SDK's
// messaging.Is... and errorutils.Is... helpers:
//
//   - KindTokenInvalid: UNREGISTERED (404), SENDER_ID_MISMATCH (403), and
//     INVALID_ARGUMENT (400) about the token ("The registration token is
//     not a valid FCM registration token", or a field violation on
//     message.token).
//   - KindPayload: any other INVALID_ARGUMENT (a bad field, a reserved
//     data key, a message too big), and a message the SDK refuses to send.
//   - KindQuota: QUOTA_EXCEEDED (429), RetryAfter from Retry-After.
//   - KindAuth: THIRD_PARTY_AUTH_ERROR (401: the project's APNs key or web
//     push credentials are wrong), UNAUTHENTICATED after the one token
//     refresh, PERMISSION_DENIED (403: the service account may not send
//     for the project), NOT_FOUND without UNREGISTERED (a wrong project
//     or base URL: FCM documents no other 404, so this is this package's
//     reading).
//   - KindRetry: UNAVAILABLE (503), INTERNAL (500), any other 5xx, a 429
//     without QUOTA_EXCEEDED, a connection error or timeout; RetryAfter
//     from Retry-After.
//
// A Client is safe for concurrent use; it holds no goroutines, and its
// HTTP client's idle connections are the caller's to close.
package fcm
