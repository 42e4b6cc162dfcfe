package chat

import (
	"context"
	"sync"

	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/presence"
)

// Subscriber is one connected device as the router sees it.
type Subscriber interface {
	User() string
	Device() string
	// Deliver hands an event to the device. It must not block.
	Deliver(ev Event)
	// Replace tells the device that a newer connection of it took over.
	Replace()
}

// Event is what the router carries to a device: an inbox entry or a frame.
type Event struct {
	Pts   uint64          // with Msg: the entry's position in the user's inbox
	Msg   *encodedMessage // an inbox entry, or nil
	Frame []byte          // a ready frame (receipts), or nil
	// SkipDevice, if set, is a device of the user that must not get the
	// event (the one that caused it).
	SkipDevice string
	// Kick, if set, ends the session of one device of the user.
	Kick *Kick
}

// Kick ends a device's session: it gets a kicked frame and CloseKicked.
type Kick struct {
	Device string
	Reason string // KickDeviceLimit or KickLoggedOut
	By     string // the device that caused it
}

// Kick reasons, in the kicked frame.
const (
	KickDeviceLimit = "device_limit" // a newer login of the same class went over the limit
	KickLoggedOut   = "logged_out"   // another device of the user logged this one out
)

// Router carries events to the connected devices of a user. The in-process
// LocalRouter is the default; a cluster backend implements the same methods.
type Router interface {
	// Attach registers s. An earlier subscriber of the same user and device
	// is detached and told Replace.
	Attach(s Subscriber)
	// Detach unregisters s if it is still registered.
	Detach(s Subscriber)
	// Publish hands ev to every attached device of user, in call order.
	Publish(user string, ev Event)
}

// Presence records which devices are online.
type Presence interface {
	Connect(user string, dev presence.Device) uint64
	Disconnect(user, device string, gen uint64) bool
	Devices(dst []presence.Device, user string) []presence.Device
	OverLimit(user, device string, limits presence.Limits) []presence.Device
}

// MessageLog stores messages and serves users' inboxes.
type MessageLog interface {
	// Submit queues req for the next group commit and returns once it is
	// queued, so one device's messages keep their order; done runs after
	// the commit (or failure), on the store's goroutine, and must not block.
	Submit(ctx context.Context, req history.AppendRequest, done func(history.Ack, error)) error
	ReadInbox(user string, after uint64, limit int) ([]history.InboxEntry, error)
	InboxHead(user string) (uint64, error)
}

// CursorStore keeps each device's received position.
type CursorStore interface {
	Cursor(user, device string) (uint64, error)
	SetCursor(ctx context.Context, user, device string, pts uint64) (uint64, error)
	// Confirm is SetCursor that also moves delivered marks of direct
	// conversations, returning those that moved.
	Confirm(ctx context.Context, user, device string, pts uint64, delivered []history.ConvSeq) (uint64, []history.ConvSeq, error)
}

// ConversationStore serves conversations, history pages and read marks.
type ConversationStore interface {
	History(user, conv string, before uint64, limit int) ([]history.Message, bool, error)
	Conversations(user string) ([]history.Conversation, error)
	Unread(user string) (uint64, error)
	MarkRead(ctx context.Context, user, conv string, seq uint64) (history.ReadMark, error)
}

// GroupStore keeps groups. Each change is an event in the group's order.
type GroupStore interface {
	CreateGroup(ctx context.Context, req history.GroupRequest) (history.Ack, error)
	AddMembers(ctx context.Context, req history.GroupRequest) (history.Ack, error)
	RemoveMembers(ctx context.Context, req history.GroupRequest) (history.Ack, error)
	LeaveGroup(ctx context.Context, req history.GroupRequest) (history.Ack, error)
	RenameGroup(ctx context.Context, req history.GroupRequest) (history.Ack, error)
	SetRole(ctx context.Context, req history.GroupRequest) (history.Ack, error)
	Group(conv string) (*history.Group, error)
	Groups(user string) ([]history.Conversation, error)
	Receipts(user, conv string, seq uint64) (history.Receipt, error)
	HistoryAfter(user, conv string, after uint64, limit int) ([]history.Message, bool, error)
	GroupsMoved(user string, after uint64) ([]history.GroupSeq, uint64, error)
	SharedWith(user string, others []string) ([]bool, error)
}

// DeviceStore keeps what each device's sessions ended as.
type DeviceStore interface {
	DeviceSeen(ctx context.Context, user, device, platform string, online bool) error
	SetDeviceState(ctx context.Context, user, device string, state history.DeviceState, unbindPush bool) error
	Devices(user string) ([]history.Device, error)
}

// Store is everything the chat core needs from storage.
type Store interface {
	MessageLog
	CursorStore
	ConversationStore
	GroupStore
	DeviceStore
}

// LocalRouter routes events between the sessions of this process.
type LocalRouter struct {
	mu    sync.RWMutex
	users map[string][]Subscriber // guarded by mu; never an empty slice
}

var _ Router = (*LocalRouter)(nil)

// NewLocalRouter returns an empty router.
func NewLocalRouter() *LocalRouter {
	return &LocalRouter{users: make(map[string][]Subscriber)}
}

// Attach implements Router.
func (r *LocalRouter) Attach(s Subscriber) {
	user, device := s.User(), s.Device()
	r.mu.Lock()
	subs := r.users[user]
	var old Subscriber
	for i, o := range subs {
		if o.Device() == device {
			old = o
			subs[i] = s
			break
		}
	}
	if old == nil {
		r.users[user] = append(subs, s)
	}
	r.mu.Unlock()
	if old != nil {
		old.Replace()
	}
}

// Detach implements Router.
func (r *LocalRouter) Detach(s Subscriber) {
	user := s.User()
	r.mu.Lock()
	defer r.mu.Unlock()
	subs := r.users[user]
	for i, o := range subs {
		if o != s {
			continue
		}
		last := len(subs) - 1
		subs[i] = subs[last]
		subs[last] = nil
		if last == 0 {
			delete(r.users, user)
		} else {
			r.users[user] = subs[:last]
		}
		return
	}
}

// Publish implements Router. Deliver never blocks, so holding the read
// lock across it is cheap and keeps each user's events in call order.
func (r *LocalRouter) Publish(user string, ev Event) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, s := range r.users[user] {
		s.Deliver(ev)
	}
}
