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
	// ErrForbidden: the user may not do this (not an owner or admin of the
	// group, not the sender of the message, no longer a member).
	ErrForbidden = errors.New("history: not allowed")
	// ErrTooLate: the recall or edit window of the message has passed.
	ErrTooLate = errors.New("history: the window for this change has passed")
	// ErrTooMany: a group would exceed Config.MaxGroupSize, or a request
	// names more users than one request may.
	ErrTooMany = errors.New("history: over the limit")
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
	// FanoutLimit is the largest group whose messages are written to every
	// member's inbox (write fan-out). Larger groups keep only the
	// conversation log: members are told its new seq and fetch what they
	// miss (read fan-out). Default 500.
	FanoutLimit int
	// MaxGroupSize is the most members a group may have. Default 100,000.
	MaxGroupSize int
	// RecallWindow is how long after sending its sender may recall a
	// message. Default 2 minutes.
	RecallWindow time.Duration
	// EditWindow is how long after sending its sender may edit a message.
	// Default 24 hours.
	EditWindow time.Duration
	// PushPending, if set, is asked by the committer for every message with
	// inbox entries whether the push layer must see it; if so, the message
	// is marked in its own batch, and Pending lists it until DonePending,
	// so a crash between the commit and the push layer's work loses no
	// push. It runs on the committer goroutine: it must be fast and must
	// not block.
	PushPending func(m *Message, inbox []InboxRef) bool
	// OnSync, if set, is told how long each batch's commit took, from its
	// hand-off to Pebble to its fsync (for metrics). It runs on the
	// committer's waiter goroutine and must not block.
	OnSync func(time.Duration)
	// OnDeviceState, if set, is told each SetDeviceState once it is
	// durable, on the caller's goroutine: it must not block.
	OnDeviceState func(user, device string, state DeviceState, unbindPush bool)
}

// LastID returns the id of the newest durable message: the number of
// messages ever stored.
func (s *Store) LastID() uint64 { return s.durableID.Load() }

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
	Kind     string // "" for a message, else one of the Kind constants
	Ref      uint64 // for KindRecall, KindEdit, KindDelete: the seq it changes
	Recalled bool   // recalled by its sender: Body is {}
	Deleted  bool   // deleted by a group owner or admin: Body is {}
	Edited   int64  // Unix ms of the last edit (Body is the latest text), 0 if never
}

// Message kinds besides plain messages. Each is an entry of the
// conversation like any message, synced to every member's devices.
const (
	KindEvent  = "event"  // a membership change; Body says which
	KindRecall = "recall" // the sender took message Ref back
	KindEdit   = "edit"   // the sender replaced the text of message Ref with Body
	KindDelete = "delete" // a group owner or admin deleted message Ref
)

// groupPrefix starts every group conversation id.
const groupPrefix = "g:"

// Role is a group member's role.
type Role string

// Group roles.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Member is one member of a group.
type Member struct {
	User    string
	Role    Role
	JoinSeq uint64 // the seq of the event that added it: it reads from there
}

// DeviceState is what a device's last session ended as, for the push layer.
type DeviceState string

// Device states.
const (
	DeviceActive    DeviceState = "active"     // logged in (online or not)
	DeviceKicked    DeviceState = "kicked"     // closed by a newer login over the device limit
	DeviceLoggedOut DeviceState = "logged_out" // logged out, by itself or from another device
)

// Device is one device a user has logged in from.
type Device struct {
	ID         string
	Platform   string
	State      DeviceState
	LastSeen   int64 // Unix ms the device was last connected; 0 never
	UnbindPush bool  // logged out asking for its push token to be removed
}

// AppendRequest asks to store one message: to a user (To) or to a group
// or existing conversation (Conv); exactly one of them is set.
type AppendRequest struct {
	From     string // sending user
	Device   string // sending device
	ClientID string // unique per sending device; retries reuse it
	To       string // recipient user (may equal From: notes to self)
	Conv     string // or: the conversation, "g:..." for a group
	Body     []byte // a JSON object
	// Kind is "" for a message, or KindRecall, KindEdit or KindDelete with
	// Ref the seq of the message in Conv it changes (Body: the new text
	// for an edit, ignored otherwise).
	Kind string
	Ref  uint64
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
// member of its conversation (write fan-out).
type Appended struct {
	Message *Message
	Inbox   []InboxRef
	// ReadFanout is set for a message of a group over Config.FanoutLimit:
	// it has no inbox entries, and Group's members (and Also, the users a
	// removal took out) are to be told the conversation's new seq.
	ReadFanout bool
	Group      *Group
	Also       []string
}

// InboxEntry is one entry of a user's inbox.
type InboxEntry struct {
	Pts     uint64
	Message *Message
}

// Conversation summarises one of a user's conversations.
type Conversation struct {
	ID       string
	Members  []string // a direct conversation's members; nil for a group
	Name     string   // a group's name
	Size     int      // a group's member count
	Role     Role     // the user's role in a group
	Left     bool     // the user is no longer a member: LastSeq is where it left
	LastSeq  uint64
	Last     *Message // nil if retention dropped it
	ReadSeq  uint64   // the user's read mark
	Unread   uint64   // LastSeq - ReadSeq; own messages count as read
	PeerRead uint64   // lowest read mark among the other members (direct only)
	// PeerDelivered is the lowest seq the other members' devices confirmed
	// receiving (direct only; never below PeerRead).
	PeerDelivered uint64
}

// ReadMark is the result of MarkRead.
type ReadMark struct {
	Conv     string
	Seq      uint64   // the stored mark after the call (never decreases)
	Advanced bool     // whether this call moved it
	Members  []string // who to tell: a direct conversation's members; a group's reader only
}

// DirectConv returns the id of the direct conversation between a and b: the
// same for (a, b) and (b, a).
// DirectMembers returns the users of a direct conversation id (one for a
// conversation with oneself), or false if conv is not one.
func DirectMembers(conv string) ([]string, bool) { return directMembers(conv) }

func DirectConv(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return "d:" + a + ":" + b
}
