// Package meizu sends Loft's offline pushes through Meizu Push (Flyme
// Push), the system push service of Meizu phones, implementing
// offlinepush.Vendor.
//
// # Auth
//
// Meizu's server API ("魅族开放平台PUSH系统HTTP接口文档", published by Meizu as
// MEIZUPUSH/PushAPI) has no access token: every request is signed. The
// signature is the lowercase hex MD5 of the request's parameters sorted by
// name and written as name=value one after the other (raw, not URL-encoded),
// followed by the app secret; it is sent as the sign parameter. So there is
// nothing to cache or refresh, and nothing shared between goroutines.
//
// # Request
//
// A notification is POST /garcia/api/server/push/varnished/pushByPushId, a
// silent push POST /garcia/api/server/push/unvarnished/pushByPushId (a
// pass-through message handed to the app), both form-encoded with appId,
// pushIds (the one device's pushId), messageJson and sign.
//
// A notification's messageJson has noticeBarInfo (title, content),
// clickTypeInfo (clickType 0, open the app, with the Notification's Data as
// parameters), pushTimeInfo (offLine 1 and validTime, the TTL in whole
// hours) and advanceInfo: suspend (the heads-up banner) 1 for High pushes
// and 0 otherwise, and notifyKey, a hash of the CollapseKey (Meizu shows only
// the last notification of a notifyKey). A silent push's messageJson has the
// Data as a JSON object in content and the same pushTimeInfo; Meizu has
// restricted pass-through messages since 2017 and may refuse them (110053).
//
// Meizu has no badge, sound name or priority in this API; a notification
// uses the device's sound and vibration.
//
// # Limits
//
// A notification's title is 1 to 32 characters and content 1 to 100; both
// are cut with a trailing "…" (counting a character outside the Basic
// Multilingual Plane as two, to be safe however Meizu counts), and a
// missing title is Config.DefaultTitle. A pass-through content is at most
// 2000 bytes, notification parameters are kept within 1000 bytes (Meizu
// documents no limit for them; 1000 is its limit for the similar
// customAttribute): Loft's keys (conv, seq, msg_id) are kept first and keys
// that do not fit are left out. validTime is 1 to 72 hours; a TTL is rounded
// up to whole hours and clamped, 0 is Meizu's default of 24. notifyKey is at
// most 8 characters of [0-9a-zA-Z_-]: eight hex digits.
//
// # Errors
//
// Meizu answers HTTP 200 with {"code":"..","message":"..","value":..}. code
// is the request's outcome:
//
//	200              accepted; see value below
//	500, 1001, 1003  other error, system error, server busy: KindRetry
//	110010           the app sends too fast: KindRetry
//	300              redirect (not followed): KindRetry
//	1005, 110004     parameter error, parameter empty: KindPayload
//	1006             signature check failed: KindAuth
//	110000, 110001   appId or appKey invalid: KindAuth
//	110009           app black-listed: KindAuth
//	110053           pass-through limit exceeded: KindQuota
//	any other        KindPayload
//
// With code 200, value maps a result code to the pushIds it applies to and
// lists only the pushIds that failed:
//
//	110002, 110003, 110005  pushId unsubscribed or notifications off,
//	                        pushId invalid, alias unsubscribed:
//	                        KindTokenInvalid
//	201                     no permission, refused: KindAuth
//	501, 513, 519           push failed (database, send, overload):
//	                        KindRetry
//	520                     folded: the device got more than five pushes
//	                        of the app within a minute: KindRetry after a
//	                        minute
//	any other               KindPayload
//
// HTTP 429 and 5xx, timeouts and connection errors are KindRetry with the
// Retry-After header if sent; 401, 403 and 404 are KindAuth; other 4xx are
// KindPayload. Every *offlinepush.Error carries Meizu's code in Code.
//
// The brief this package was written from guessed 1007-1010 as auth codes
// and 110010 as a quota code; Meizu's table has no 1007-1010 and calls 110010
// "the app pushes too fast", which is transient, so this package follows the
// table.
//
// A Client serves one app; Notification.Credential is not consulted. A
// Client is safe for concurrent use; it never retries a push by itself.
package meizu
