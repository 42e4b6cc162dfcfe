// Package history is Loft's durable message store: conversation logs, per-user
// inboxes, sequences, device cursors, read state and retention, on an embedded
// Pebble database.
//
// # Ownership and concurrency
//
// A Store owns one Pebble database and three goroutines: the committer, the
// only writer of messages, counters, membership, cursors, read marks and
// dedup records; its waiter, which awaits each batch's fsync; and the
// sweeper, which applies retention in the background. Every method is safe
// to call concurrently. Writes (Append, Submit, SetCursor, MarkRead) are
// queued to the committer, which takes whatever is queued into one Pebble
// batch (group commit: concurrent senders share one fsync) and applies it
// with ApplyNoSyncWait, so it builds the next batch while this one syncs. The
// waiter answers a batch's writers only after its fsync, in batch order, and
// hands its messages to Config.OnCommit first, so a subscriber sees every
// user's inbox entries in ascending, gapless order. Submit looks up a
// message's dedup record on the caller's goroutine, keeping that read off the
// committer.
//
// Pebble makes a batch visible before its fsync; inbox reads therefore stop
// at the durable watermark (the highest message id whose batch has synced),
// so no device is handed an entry that a crash could take back.
//
// Reads (ReadInbox, History, Conversations, ...) go straight to Pebble, each
// from one snapshot. The sweeper deletes a message, its inbox entries and
// raises those inboxes' floors in one batch, so a read never sees an inbox
// entry without its message; its batches are unsynced and small, and it
// shares no lock with the committer. Counters live in the committer's memory,
// loaded lazily from Pebble, and are written in the batch of the records they
// number.
//
// Close stops accepting writes, commits what is queued, stops both goroutines
// and closes Pebble; it is safe to call twice. A data directory is open in at
// most one Store at a time (Pebble's LOCK file); Open fails with ErrLocked
// otherwise.
//
// # Disk failures
//
// Pebble cannot go on after a failed write or fsync of its write-ahead log:
// its log writer keeps the error, the next write that reaches it panics, and
// so does the next log rotation. The store therefore watches its log files
// (walFS) and, at the first failure, before Pebble can act on it, fails for
// good: the writes of the failed batch and of every later one return
// ErrFailed, never an ack, and nothing of them is published to OnCommit;
// reads return ErrFailed too, since Pebble shows a batch before its fsync.
// The failure is logged once; Close and Open (a restart) recover. One case is
// out of the store's hands: if the log fails while a commit is rotating it
// (the memtable is full), Pebble panics and the process exits with its stack
// trace, after the store's log line. Nothing acknowledged is lost either way.
// A write whose fsync failed may still have reached the disk: a retry with
// the same client id then finds it and answers it as a duplicate.
//
// # Key layout
//
// Keys are a one-byte record kind followed by fields separated by 0x00 (user,
// device, client and conversation ids never contain 0x00), with sequences as
// big-endian uint64 so that byte order is numeric order:
//
//	'm' conv 0 seq           -> message (see codec.go), with its inbox refs
//	'i' user 0 pts           -> inbox entry: conv 0 be64(seq), the message key
//	                            without its kind byte
//	'c' conv                 -> conversation counter: last seq (uvarint)
//	'p' user                 -> inbox counter: last pts (uvarint)
//	'g'                      -> global message id counter (uvarint)
//	'u' user 0 conv          -> membership: the user's conversations (empty value)
//	'r' user 0 conv          -> read mark: highest seq read (uvarint)
//	'k' user 0 device        -> device cursor: highest pts received (uvarint)
//	'f' user                 -> inbox floor: lowest pts retention still keeps
//	                            (uvarint)
//	'd' user 0 device 0 cid  -> dedup record: ack, body digest, expiry
//	'x' expiry(be64 ms) 0 user 0 device 0 cid -> dedup expiry index (empty)
//	'G' conv                 -> group: name, creator, created, newest
//	                            read-fan-out message id
//	'M' conv 0 user          -> group member: role, seq it joined at
//	'R' conv 0 user          -> a group member's read mark (a direct
//	                            conversation's marks are 'r')
//	'a' be64(id) 0 conv      -> the newest message id of a read-fan-out
//	                            group (empty): sync scans it from a mark
//	'v' user 0 device        -> device: platform, state, last seen, unbind
//	'q' be64(id)             -> a message the push layer has yet to handle:
//	                            conv 0 be64(seq) (Config.PushPending)
//	'T' name 0 key           -> a Table: another package's records
//
// A 'u' value is empty for a direct conversation and holds the seqs the
// user may read for a group: from the event that added it to the one that
// removed it (0 while a member).
//
// # Groups
//
// A group's messages are appended like direct ones, to every member's inbox
// in the same batch (write fan-out), while the group has at most
// Config.FanoutLimit members; above that, only to the group's log, and the
// group's 'a' key moves to the new message id (read fan-out). Membership
// changes are messages too (KindEvent), written with the member records
// they change. The committer holds each group it has touched in memory;
// readers get groups from a cache the committer updates after each durable
// batch (Group), and a group's read marks from a cache loaded by one scan
// and kept current the same way (Receipts).
//
// Other values are compact binary: a version byte, then uvarints, varints and
// length-prefixed strings (codec.go). Direct conversations are named by
// DirectConv ("d:" a ":" b with a <= b), so the user ids of direct messages
// must not contain ':' either.
//
// Counters are written in the same batch as the records they number, so
// sequences survive a restart and are never reused, even after retention has
// dropped every message of a conversation. A dedup record and its expiry
// index key are written together by the committer, only where no record
// exists, and deleted together by the sweeper once expired.
package history
