// Package oppo sends Loft's offline pushes through OPPO PUSH (HeyTap), the
// system push service of OPPO, OnePlus and realme phones, implementing
// offlinepush.Vendor.
//
// # Auth
//
// OPPO's server API ("OPPO PUSH 服务端 API": 鉴权, 单点推送, 调用地址、公共参数和
// 返回码) authenticates with an auth_token: POST /server/v1/auth with the form
// fields app_key, timestamp (Unix milliseconds) and sign, the lowercase hex
// SHA-256 of app_key + timestamp + master_secret. The answer
// {"code":0,"data":{"auth_token":..,"create_time":..}} is valid for 24 hours
// from create_time. A Client caches it, fetches a new one an hour before it
// expires, and lets only one goroutine fetch at a time. When OPPO answers a
// push with code 11 (invalid auth_token) the Client fetches a new token and
// sends the push once more within the same Send; a second 11 is KindAuth.
//
// # Request
//
// A push is POST /server/v1/message/notification/unicast, form-encoded, with
// auth_token (as a form field, as the documentation says, and as a header,
// as OPPO's own SDK sends it) and message, a JSON object:
// {"target_type":2,"target_value":<registration_id>,"notification":{...}}.
// The notification carries title, content, style 1, click_action_type 0
// (open the app), action_parameters (the Notification's Data as a JSON
// string, which the app receives in its launch intent), off_line and
// off_line_ttl (the TTL), channel_id, category, notify_level (for High
// pushes, when configured) and notify_id (a hash of the CollapseKey, so that
// a newer push of a conversation replaces the older one). Field names are the
// snake_case ones of the API reference; the newer web page shows camelCase in
// one example, but its field table and OPPO's SDKs use snake_case.
//
// OPPO has no badge, sound or priority field in this API (notify_level is
// the closest to priority, and OPPO only accepts it for apps granted the IM
// category), and no data-only message: a Silent notification, or one with
// neither title nor body, fails with KindPayload and ErrSilentUnsupported
// without calling OPPO.
//
// # Limits
//
// OPPO counts characters, Chinese and emoji alike as one. title is at most
// 50 characters; content of the standard style is at most 50 (the older PDF
// said 200 but phones only ever showed 50; the current page says 50 for
// style 1). Both are cut with a trailing "…", counting a character outside
// the Basic Multilingual Plane as two to stay within the limit however OPPO
// counts. action_parameters is at most 4000 characters: Loft's keys (conv,
// seq, msg_id) are kept first and keys that do not fit are left out.
// off_line_ttl is between one hour and ten days (OPPO's documented range); a
// TTL outside it is clamped, 0 leaves OPPO's default.
//
// # Errors
//
// OPPO answers HTTP 200 with a code in the body ("返回码"):
//
//	0                       success
//	-1, -2, 55              service unavailable, flow control, call
//	                        frequency limit: KindRetry
//	11                      invalid auth_token: refresh once and resend,
//	                        then KindAuth
//	13, 33, 34              app call limit, daily message limit, daily
//	                        picture limit: KindQuota
//	14-19, 26-30, 59, 67    bad or missing app_key, signature or timestamp,
//	                        IP black list, access denied, app disabled,
//	                        missing auth_token, no API push permission,
//	                        category/notify_level not allowed: KindAuth
//	10000                   invalid registration_id: KindTokenInvalid
//	12, 20-25, 31, 32, 40,
//	41, 51 and any other    a request OPPO refuses: KindPayload
//
// HTTP 429 and 5xx, timeouts and connection errors are KindRetry with the
// Retry-After header if sent; 401, 403 and 404 are KindAuth; other 4xx are
// KindPayload. Every *offlinepush.Error carries OPPO's code in Code.
//
// The brief this package was written from listed 16 as a quota code and 28
// as retryable; OPPO's code table says 16 is an invalid signature and 28 a
// disabled app, so both are KindAuth here.
//
// A Client serves one app (one app_key); Notification.Credential is not
// consulted. A Client is safe for concurrent use; it never retries a push
// by itself.
package oppo
