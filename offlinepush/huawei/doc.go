// Package huawei sends offline pushes to Huawei devices through Huawei Push
// Kit (HMS Core), as an offlinepush.Vendor.
//
// It follows Huawei's "HMS Core Push Kit server API reference: Sending
// Downlink Messages" (下行消息, https-send-api) and the "Account Kit OAuth 2.0
// Client Credentials" guide.
//
// # Auth
//
// The Client gets an app-level access token from the OAuth 2.0 token
// endpoint (POST oauth2/v3/token, form grant_type=client_credentials,
// client_id = the app ID, client_secret = the app secret) and caches it
// until five minutes before its expires_in (one hour). Concurrent Sends
// share one fetch. Each push is POST /v1/{appId}/messages:send with
// "Authorization: Bearer <token>". When Huawei answers that the token is
// wrong or expired (HTTP 401, or 80200001, 80200003, 80200005), Send fetches
// a new token once and sends the push again; if that also fails it returns
// KindAuth. This is authentication, not a retry: Send never retries a push
// otherwise.
//
// # Request
//
// One Notification becomes {"validate_only":false,"message":{...}} with
// token [Token] and data = the Data map as a JSON object string (always
// present, "{}" when empty). android.urgency is HIGH for High, otherwise
// NORMAL; android.ttl is the TTL as "<n>s", capped at Huawei's 15 days, or
// left out for Huawei's default of one day; android.category is
// Config.Category when set.
//
// A push that shows something carries android.notification with title,
// body, click_action {type: 3} (open the app), tag = CollapseKey (a newer
// notification with the same tag replaces the older one), the custom sound
// (sound "/raw/<name>", default_sound false) and, when Badge is set and
// Config.BadgeClass names the launcher Activity, badge {class, set_num} with
// the number capped at 99. Title and body are sent only there, not also in
// message.notification, because android.notification overrides it and
// sending them twice would halve the room for the preview. When only one of
// Title and Body is set it is used for both, since Push Kit requires both.
// A Silent push, or one with neither, has no notification: Push Kit then
// delivers a data (pass-through) message that wakes the app.
//
// android.collapse_key is not used: it is a group number from 1 to 100 for
// the app's offline cache, so a per-conversation key would collide and make
// Huawei drop other conversations' pushes while the device is offline.
//
// # Limits
//
// The message may be at most 4096 bytes, not counting the tokens
// (MaxMessageSize). Send measures the encoded message and cuts the body,
// then the title, with offlinepush.Truncate until it fits; only a Data map
// too large on its own is refused, as KindPayload with ErrPayloadTooLarge,
// without contacting Huawei.
//
// # Errors
//
// Push Kit answers {"code","msg","requestId"}, usually with HTTP 200 even
// for failures. The code decides when present, then the HTTP status:
//
//	80000000                         success
//	80100000 (partial success)       success if our token was counted as sent;
//	                                 KindTokenInvalid if msg's illegal_tokens lists it
//	80300007 (all tokens invalid)    KindTokenInvalid
//	80100001, 80100003, 80100004,    KindPayload (bad parameter, message structure,
//	80100013, 80100016, 80100018,    TTL, collapse_key, sensitive content, review
//	80300008, 80300010, 80300011     signature, message too large, token count,
//	                                 no right to high-importance notifications)
//	80200001, 80200003, 80200005     refresh the access token once, then KindAuth
//	80300002, 80300013, 80600003     KindAuth (app not allowed to push, receipt
//	                                 config, OAuth client ID or secret refused)
//	81000001, 80100017               KindRetry (internal error, too many topic tasks)
//	HTTP 401                         refresh the access token once, then KindAuth
//	HTTP 429, 5xx (503 is Push Kit's KindRetry, with Retry-After when sent
//	flow control)
//	HTTP 403, 404 (wrong app ID)     KindAuth
//	anything else                    KindPayload
//
// The token endpoint's failures: 429 and 5xx are KindRetry; any other
// refusal (Huawei's {"error":1101,"sub_error":...}) is KindAuth. Network
// errors and timeouts are KindRetry. Error.Code is Huawei's code as sent.
//
// Huawei documents 80600003 as "requesting the OAuth service failed, check
// the client ID and secret", so it is KindAuth, not flow control. Flow
// control is HTTP 503; Push Kit documents no daily-quota code for this API,
// so no answer maps to KindQuota.
//
// Config.Now and Config.HTTPClient let tests drive time and the network.
package huawei
