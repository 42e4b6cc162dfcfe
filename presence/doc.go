// Package presence tracks which devices and users are online on this node.
//
// A Tracker is an in-memory map from user to that user's online devices. A
// device is online from Connect to the matching Disconnect; a second Connect of
// the same device replaces the first, and the first's later Disconnect is then
// ignored (each Connect returns a generation that Disconnect must present).
// Devices answers "which devices of user U are online" in O(devices of U),
// oldest connection first, and is what the offline-push layer asks before
// deciding to push.
//
// A user is online while at least one of its devices is. Config.OnChange
// hears each user-level Change: the first device connecting, and the last one
// disconnecting (with the time, for "last seen"). Replacing a device's own
// connection, a stale Disconnect, or a second device are not changes. The
// callback runs under the Tracker's lock, so one user's changes arrive in
// order; it must hand them off without blocking.
//
// Each platform belongs to a Class (mobile, desktop, web, other), and Limits
// caps how many devices of one class a user may have online at once.
// OverLimit names the devices a new login must kick, oldest connection
// first; kicking them (and telling the client why) is the caller's job.
//
// Watchers is the subscription side: which watchers (sessions, of any
// comparable type) want to hear about which users' Changes. A session Watches
// the users it shows, up to a per-watcher limit, and calls UnwatchAll when it
// ends; Append lists a user's watchers for fanning out a Change. Watchers
// holds nothing for a user once its last watcher is gone. It does not know
// the Tracker: the caller joins the two. OnChange may call Append (Watchers
// never calls back into a Tracker), but must queue the Change for each
// watcher rather than block on it.
//
// All methods of Tracker and Watchers are safe for concurrent use. Neither
// starts goroutines.
package presence
