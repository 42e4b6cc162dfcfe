// Package presence tracks which devices of each user are online on this node.
//
// A Tracker is an in-memory map from user to that user's online devices. A
// device is online from Connect to the matching Disconnect; a second Connect of
// the same device replaces the first, and the first's later Disconnect is then
// ignored (each Connect returns a generation that Disconnect must present).
// Devices answers "which devices of user U are online" in O(devices of U) and
// is what the offline-push layer asks before deciding to push.
//
// All methods are safe for concurrent use. The Tracker starts no goroutines.
package presence
