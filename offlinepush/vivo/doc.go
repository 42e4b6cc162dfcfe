// Package vivo sends Loft's offline pushes through vivo Push, the system
// push service of vivo and iQOO phones, implementing offlinepush.Vendor.
//
// # Auth
//
// vivo's server API ("vivo 推送服务端 API 接口文档" / PUSH-UPS-API: 推送鉴权接口,
// 单推接口) authenticates with an authToken: POST /message/auth with the JSON
// {"appId","appKey","timestamp","sign"}, timestamp in Unix milliseconds and
// sign the lowercase hex MD5 of appId + appKey + timestamp + appSecret. The
// answer {"result":0,"desc":"请求成功","authToken":".."} is valid for a day;
// vivo asks senders to cache it and renew it every one to two hours, which
// a Client does (every hour), letting one goroutine fetch at a time. When
// vivo answers a push with result 10000 (authentication failed: the token
// expired or was revoked) the Client fetches a new token and sends once more
// within the same Send; a second 10000 is KindAuth.
//
// # Request
//
// A push is POST /message/send with the authToken header and a JSON body:
// appId (vivo checks it against the token's, 10094 if they differ), regId,
// notifyType 4 (sound and vibration), title, content, timeToLive (the TTL),
// skipType 1 (open the app), networkType -1 (any network), classification 1
// (a system message, which vivo delivers around the clock and does not
// count against the daily operational quota) with category "IM" (vivo's
// instant-message category) unless Config.Operational, pushMode 1 with
// Config.Test, notifyId (a hash of the CollapseKey: pushes with the same one
// replace each other), clientCustomMap (the Notification's Data, which the
// app receives on click) and requestId (random, unique per request).
//
// vivo has no badge, sound name or priority in this API, and no data-only
// message: a Silent notification, or one with neither title nor body, fails
// with KindPayload and ErrSilentUnsupported without calling vivo.
//
// # Limits
//
// vivo counts a Chinese character as two and a Latin one as one: title is
// at most 40 of these (20 Chinese characters), content at most 100. Both are
// cut with a trailing "…", counting every non-ASCII character as two (vivo
// counts an emoji as one; two only cuts a little early). clientCustomMap
// holds at most 10 pairs of at most 1024 characters in all: Loft's keys
// (conv, seq, msg_id) are kept first and keys that do not fit are left out.
// timeToLive is at least 900 seconds (one version of the document says 60,
// an older one 900; 900 satisfies both) and at most 7 days; a TTL outside is
// clamped, 0 leaves vivo's default of one day.
//
// # Errors
//
// vivo answers HTTP 200 with a result code in the body:
//
//	0                   success
//	10000               authentication failed: refresh once and resend,
//	                    then KindAuth
//	10070               total sending quota exceeded (发送总量超出限制):
//	                    KindQuota
//	10073               system message quota exceeded: KindQuota
//	10071               sending outside the allowed hours (发送超出时间
//	                    限制): KindQuota
//	10072               sending too fast: KindRetry
//	10094               appId does not match the token's: KindAuth
//	10302               regId invalid: KindTokenInvalid; so is an
//	                    invalidUser of status 1 (not found), 2 (app
//	                    uninstalled or notifications off) or 3 (offline
//	                    90 days)
//	10050-10069 and     invalid parameters, or content vivo refuses:
//	any other code      KindPayload
//
// A refused /message/auth (a wrong appId, appKey or sign) is KindAuth. HTTP
// 429 and 5xx (vivo documents "http status 500: Internet server error!"),
// timeouts and connection errors are KindRetry with the Retry-After header
// if sent; 401, 403 and 404 are KindAuth; other 4xx are KindPayload. Every
// *offlinepush.Error carries vivo's result code in Code.
//
// Unsure: vivo's published code table reached here only in part. 10070,
// 10094 and 10302 are in vivo's document as read; 10000, 10071, 10072 and
// 10073 come from integrations that handle them with these meanings.
// 10303/10307 and a "service busy" code (10089 in the brief) could not be
// confirmed and fall to KindPayload with every other unknown code, so that
// a refused push is dropped rather than retried against the quota.
//
// A Client serves one app; Notification.Credential is not consulted. A
// Client is safe for concurrent use; it never retries a push by itself.
package vivo
