// Package offlinepush hands messages for users who are not connected to the
// phone makers' push services: the token registry, the policy that decides
// whether and what to push, the durable push queue, and the Vendor
// interface that each vendor's sub-package (fcm, apns, huawei, honor,
// xiaomi, oppo, vivo, meizu, webpush, webhook, logvendor) implements.
//
// A Vendor only sends: it maps a rendered Notification to its service's
// request, and its service's answer to an *Error whose Kind tells the queue
// what to do (retry, back off for quota, remove the token, drop the
// payload, or stop using the vendor). Vendors never retry by themselves.
package offlinepush
