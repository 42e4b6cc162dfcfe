// Package honor sends offline pushes to Honor devices through Honor Push
// (HONOR Push Kit), as an offlinepush.Vendor.
//
// It follows Honor's developer documentation for Push Kit: "Sending
// downlink messages" (发送下行消息), the "Downlink message" server API
// reference (下行消息) and its "Authentication API" (获取鉴权接口). Honor's
// service was split from Huawei's and mirrors Huawei Push Kit closely;
// where Honor's documentation leaves something out (the exact size limit,
// most error codes), this package does what Huawei Push Kit documents, and
// says so below.
//
// # Auth
//
// Honor issues three credentials per app: the APP ID (in the send URL) and
// a Client ID and Client Secret for tokens. The Client gets an access token
// from the OAuth 2.0 token endpoint (POST iam.developer.honor.com/auth/token,
// form grant_type=client_credentials, client_id, client_secret; older
// documents name /auth/realms/developer/protocol/openid-connect/token on the
// same host, which Config.AuthURL can select) and caches it until five
// minutes before its expires_in. Concurrent Sends share one fetch. Each
// push is POST /api/v1/{appId}/sendMessage with "Authorization: Bearer
// <token>" and a "timestamp" header in Unix milliseconds. When Honor answers
// that the token is wrong or expired (HTTP 401, or Huawei's 80200001 and
// 80200003), Send fetches a new token once and sends the push again; if that
// also fails it returns KindAuth. Send never retries a push otherwise.
//
// # Request
//
// One Notification becomes {"data","android","token"}: not wrapped in
// "message" as Huawei's is, and with camelCase fields. token is [Token];
// data is the Data map as a JSON object string (always present, "{}" when
// empty); android.ttl is the TTL as "<n>s", capped at 15 days, or left out
// for Honor's default of one day.
//
// A push that shows something carries android.notification with title,
// body, clickAction {type: 3} (open the app), importance NORMAL (service and
// communication messages; LOW marks marketing, which Honor limits), tag =
// CollapseKey (a newer notification with the same tag replaces the older
// one) and, when Badge is set and Config.BadgeClass names the launcher
// Activity, badge {badgeClass, setNum} with the number capped at 99. Title
// and body are sent only there, not also in the top-level notification,
// which android.notification overrides; when only one of Title and Body is
// set it is used for both. A Silent push, or one with neither, has no
// notification: Honor delivers a data (pass-through) message to the app.
//
// Honor's documented request has no priority and no custom sound field, so
// High and Sound are not sent.
//
// # Limits
//
// Honor's documentation found gives no size limit; the package keeps the
// message, without the tokens, within Huawei's 4096 bytes (MaxMessageSize).
// Send measures the encoded message and cuts the body, then the title, with
// offlinepush.Truncate until it fits; only a Data map too large on its own
// is refused, as KindPayload with ErrPayloadTooLarge, without contacting
// Honor.
//
// # Errors
//
// Honor answers {"code":200,"message":"success","data":{"sendResult":true,
// "requestId":..,"failTokens":[..],"expireTokens":[..]}}, with HTTP 200 for
// most failures. The code decides when present, then the HTTP status:
//
//	200 (and Huawei's 80000000)      success, but KindTokenInvalid when
//	                                 expireTokens or failTokens lists our token,
//	                                 and KindRetry when sendResult is false
//	80100000 (partial success)       KindTokenInvalid if our token is listed,
//	                                 else success
//	80300007 (all tokens invalid)    KindTokenInvalid
//	80100001, 80100003, 80100004,    KindPayload (bad parameter, message
//	80100013, 80100016, 80300008,    structure, TTL, collapse key, sensitive
//	80300010                         content, too large, token count)
//	80200001, 80200003               refresh the access token once, then KindAuth
//	80300002, 80600003               KindAuth (app may not push, OAuth client
//	                                 refused)
//	81000001                         KindRetry (internal error)
//	HTTP 401                         refresh the access token once, then KindAuth
//	HTTP 429, 5xx                    KindRetry, with Retry-After when sent
//	HTTP 403, 404 (wrong app ID)     KindAuth
//	anything else                    KindPayload
//
// The 8xxxxxxx codes are Huawei Push Kit's, which Honor's service inherits;
// Honor's own answers beyond code 200 and the token lists were not found in
// its documentation, so they follow Huawei's meaning. The token endpoint's
// failures: 429 and 5xx are KindRetry; any other refusal (an OAuth error
// such as "invalid_client") is KindAuth. Network errors and timeouts are
// KindRetry. Error.Code is Honor's code as sent. No documented answer means
// a daily quota, so none maps to KindQuota.
package honor
