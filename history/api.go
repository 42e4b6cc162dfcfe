package history

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Errors returned by Store methods; callers test them with errors.Is.
var (
	// ErrNotFound: the conversation does not exist or the user is not a member
	// of it (the two are indistinguishable on purpose).
	ErrNotFound = errors.New("history: not found")
	// ErrConflict: a client message id was reused for a different message.
	ErrConflict = errors.New("history: client id reused with a different message")
	// ErrClosed: the store is closed or closing.
	ErrClosed = errors.New("history: closed")
	// ErrInvalid: an argument is out of range (an id containing 0x00, a cursor
	// or read mark beyond what exists).
	ErrInvalid = errors.New("history: invalid argument")
	// ErrLocked: another process (or Store) holds the data directory.
	ErrLocked = errors.New("history: data directory is in use")
	// ErrFailed: a write or sync of the write-ahead log failed (a full or
	// failing disk). The write that hit it and every later one fail, and so
	// does every read, since the database may hold writes that are not on
	// disk: Pebble cannot continue on a failed log, so the store must be
	// closed and opened again. Nothing that failed was acknowledged.
	ErrFailed = errors.New("history: storage failed; reopen the store")
)

// ResetError is returned by ReadInbox when the requested position is below
// what retention still keeps: the client must start again from Floor.
type ResetError struct {
	// Floor is the lowest pts the inbox still holds in full; entries
	// from Floor on are complete.
	Floor uint64
}

func (e *ResetError) Error() string {
	return fmt.Sprintf("history: inbox reset, history now starts at pts %d", e.Floor)
}

// Config configures a Store. The zero value works.
type Config struct {
	// MaxAge drops messages older than this. Default 0: keep forever.
	MaxAge time.Duration
	// MaxPerConversation keeps only the newest N messages of each
	// conversation. Default 0: no limit.
	MaxPerConversation int
	// DedupWindow is how long a client message id is remembered after its
	// first use. Default and minimum: 7 days.
	DedupWindow time.Duration
	// SweepInterval is how often retention and dedup expiry run in the
	// background. Default 1 minute.
	SweepInterval time.Duration
	// MaxBatch is the most writes one group commit takes. Default 4096.
	MaxBatch int
	// OnCommit, if set, is called by the committer goroutine after each
	// durable batch with the messages it appended, in commit order. It must
	// not block: hand the slice to another goroutine if there is real work.
	// The slice and messages are not modified afterwards.
	OnCommit func([]Appended)
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives background errors. Default: discard.
	Logger *slog.Logger
	// CacheSize is the most memory Pebble's block cache may hold, in bytes.
	// A device's sync reads one message per inbox entry from anywhere in
	// the store; a cache that holds the recent ones is the difference
	// between a memory copy and a block read and decompression each.
	// Default 256 MiB.
	CacheSize int64
	// FS is the file system the database lives on. Default vfs.Default;
	// tests wrap it to inject disk failures.
	FS vfs.FS
}

// Message is one stored message of a conversation.
type Message struct {
	ID       uint64 // global id, unique, increasing in commit order
	Conv     string // conversation id
	Seq      uint64 // per-conversation sequence, from 1, no gaps
	From     string // sending user
	Device   string // sending device
	ClientID string // the sender's client message id
	Time     int64  // server time, Unix milliseconds, never decreasing
	Body     []byte // the JSON object the client sent, as sent
}

// AppendRequest asks to store one direct (1:1) message.
type AppendRequest struct {
	From     string // sending user
	Device   string // sending device
	ClientID string // unique per sending device; retries reuse it
	To       string // recipient user (may equal From: notes to self)
	Body     []byte // a JSON object
}

// Ack is the answer to an Append: where the message was stored.
type Ack struct {
	ID        uint64
	Conv      string
	Seq       uint64
	Time      int64
	Pts       uint64 // the sender's inbox position of this message
	Duplicate bool   // true when this is the original ack of an earlier Append
}

// InboxRef is one inbox entry a message appended.
type InboxRef struct {
	User string
	Pts  uint64
}

// Appended is a committed message and the inbox entries it appended, one per
// member of its conversation.
type Appended struct {
	Message *Message
	Inbox   []InboxRef
}

// InboxEntry is one entry of a user's inbox.
type InboxEntry struct {
	Pts     uint64
	Message *Message
}

// Conversation summarises one of a user's conversations.
type Conversation struct {
	ID       string
	Members  []string
	LastSeq  uint64
	Last     *Message // nil if retention dropped it
	ReadSeq  uint64   // the user's read mark
	Unread   uint64   // LastSeq - ReadSeq; own messages count as read
	PeerRead uint64   // lowest read mark among the other members
}

// ReadMark is the result of MarkRead.
type ReadMark struct {
	Conv     string
	Seq      uint64   // the stored mark after the call (never decreases)
	Advanced bool     // whether this call moved it
	Members  []string // the conversation's members, to notify
}

// DirectConv returns the id of the direct conversation between a and b: the
// same for (a, b) and (b, a).
func DirectConv(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return "d:" + a + ":" + b
}
