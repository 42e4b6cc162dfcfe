// Package xiaomi sends offline pushes to Xiaomi (MIUI, HyperOS) devices
// through Xiaomi MiPush, as an offlinepush.Vendor.
//
// It follows Xiaomi's MiPush documentation: "Server API addresses and
// parameters" (服务器API地址以及参数) and the "Server error code reference"
// (服务端错误码参考).
//
// # Auth
//
// MiPush has no token exchange: every request carries the app's secret as
// "Authorization: key=<AppSecret>" (the word key in lower case). A refused
// secret is KindAuth; there is nothing to refresh.
//
// # Request
//
// One Notification is one form-encoded POST /v3/message/regid with
// registration_id = Token, restricted_package_name = Config.PackageName and
// payload = the Data map as a JSON object (always present, "{}" when empty),
// which the app receives with the message. time_to_live is the TTL in
// milliseconds, capped at MiPush's two weeks, or left out for its default.
//
// A push that shows something is a notification message (pass_through 0)
// with title and description (both required and not blank: when only one of
// Title and Body is set it is used for both), notify_type -1 (default sound,
// vibration and light), extra.channel_id = Config.ChannelID when set, and a
// custom Sound as extra.sound_uri android.resource://<package>/raw/<sound>.
// notify_id decides replacement: MiPush shows one notification per
// notify_id, so it is a hash of CollapseKey (one per conversation) or,
// without one, of Data["msg_id"] (each push its own); with neither it is
// left out and a new push replaces the app's previous one. A Silent push,
// or one with neither title nor body, is a pass-through message
// (pass_through 1) that only reaches the app.
//
// MiPush has no server-side badge (MIUI counts the notifications shown) and
// no priority field, so Badge and High are not sent.
//
// # Limits
//
// MiPush counts characters: the title must be under 50 and the description
// under 128, so Send cuts them to 49 and 127 characters with a trailing "…"
// (offlinepush.TruncateRunes, which counts characters where Truncate counts
// bytes). The payload must be under 4 K; Data cannot be cut, so a larger Data
// is refused as KindPayload with ErrPayloadTooLarge before contacting
// Xiaomi.
//
// # Errors
//
// MiPush answers {"result":"ok","code":0,"data":{"id":..}} or
// {"result":"error","code":N,"reason":..,"description":..}, with HTTP 200
// for its own errors:
//
//	code 0                        success, unless data.bad_regids lists our
//	                              registration ID: KindTokenInvalid
//	20301 (no valid target), 10029  KindTokenInvalid
//	10034 (too many messages today),  KindQuota
//	200001 (daily send limit)
//	-1, 1, 10001, 10002, 10003,   KindRetry (unknown or internal error, system
//	10027, 10037, 26003, 65029    busy, remote service error, called too often,
//	                              request expired)
//	10008, 10012, 10016, 10017,   KindPayload (bad or missing parameter, illegal
//	21305, 65009, 65011, 65014,   request, content too long, too many or too
//	65015                         long extras)
//	10031, 10036, 21301, 21302,   KindAuth (app blacklisted or forbidden,
//	21303, 22000, 22006, 22007,   authentication failed, restricted request,
//	22022, 27001                  bad app ID, key or package name, channel
//	                              mismatch)
//	any other code                KindPayload
//	HTTP 401, 403                 KindAuth
//	HTTP 429, 5xx                 KindRetry, with Retry-After when sent
//	HTTP 200 that is not JSON     KindRetry
//	other HTTP 4xx                KindPayload
//
// Network errors and timeouts are KindRetry. Error.Code is MiPush's code.
//
// Xiaomi's code table describes 20301 only as "sending the message failed";
// in practice MiPush answers it, with reason "No valid targets!", when none
// of the registration IDs can be pushed to, and common server SDKs treat it
// as an invalid registration ID. Since Send targets one ID, it is
// KindTokenInvalid. 200001 is not in Xiaomi's table either; server SDKs in
// use treat it as MiPush's daily per-app limit, so it is KindQuota.
package xiaomi
