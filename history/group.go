package history

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
)

// Limits of one group request.
const (
	maxGroupName    = 128  // bytes
	maxUsersPerCall = 1000 // users named by one request
)

// Group is a group as of a commit: immutable once built, so the committer
// hands the same value to readers and to OnCommit. A change builds a new one.
type Group struct {
	Conv    string
	Name    string
	Creator string // "" when a backend created it
	Created int64  // Unix ms
	members []Member
	index   map[string]int // user -> position in members
}

// Members returns the members in user order. The slice is shared: do not
// modify it.
func (g *Group) Members() []Member { return g.members }

// Len returns the number of members.
func (g *Group) Len() int { return len(g.members) }

// Member returns user's membership.
func (g *Group) Member(user string) (Member, bool) {
	i, ok := g.index[user]
	if !ok {
		return Member{}, false
	}
	return g.members[i], true
}

// Owner returns the owner's id, "" if the group has none.
func (g *Group) Owner() string {
	for _, m := range g.members {
		if m.Role == RoleOwner {
			return m.User
		}
	}
	return ""
}

// newGroup builds a Group from members in any order.
func newGroup(conv, name, creator string, created int64, members []Member) *Group {
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.User, b.User) })
	g := &Group{Conv: conv, Name: name, Creator: creator, Created: created, members: members, index: make(map[string]int, len(members))}
	for i, m := range members {
		g.index[m.User] = i
	}
	return g
}

// with returns a copy of g with members set (added or updated) and
// removed taken out.
func (g *Group) with(set []Member, removed []string) *Group {
	members := make([]Member, 0, len(g.members)+len(set))
	drop := make(map[string]bool, len(removed)+len(set))
	for _, u := range removed {
		drop[u] = true
	}
	for _, m := range set {
		drop[m.User] = true
	}
	for _, m := range g.members {
		if !drop[m.User] {
			members = append(members, m)
		}
	}
	members = append(members, set...)
	return newGroup(g.Conv, g.Name, g.Creator, g.Created, members)
}

// canManage reports whether user may add and remove members: the system
// (user ""), owners and admins.
func (g *Group) canManage(user string) bool {
	if user == "" {
		return true
	}
	m, ok := g.Member(user)
	return ok && (m.Role == RoleOwner || m.Role == RoleAdmin)
}

// GroupRequest is a change to a group by From on Device; From "" is the
// system (a backend), which may do anything. A retry with the same
// From, Device and ClientID returns the first result (ClientID may be empty
// for the system: no dedup).
type GroupRequest struct {
	From, Device, ClientID string
	Conv                   string   // the group ("g:..."); for CreateGroup, "" picks a new id
	Users                  []string // members to add, remove or set the role of
	Name                   string   // CreateGroup, RenameGroup
	Role                   Role     // SetRole: RoleAdmin or RoleMember
}

type groupAction string

const (
	actCreate groupAction = "created"
	actAdd    groupAction = "added"
	actRemove groupAction = "removed"
	actLeave  groupAction = "left"
	actRename groupAction = "renamed"
	actRole   groupAction = "role"
	actDelete groupAction = "deleted"
)

// CreateGroup creates a group named req.Name with req.Users as members; a
// user creator becomes its owner and a member. The Ack names the group
// (Conv) and the seq of its "created" event.
func (s *Store) CreateGroup(ctx context.Context, req GroupRequest) (Ack, error) {
	d := groupDigest(actCreate, &req) // before the id is picked: a retry picks another
	if req.Conv == "" {
		req.Conv = newGroupID()
	}
	return s.submitGroup(ctx, actCreate, req, d)
}

// AddMembers adds req.Users to the group; owners and admins may. Users
// already in it are left as they are; if none is new, it is ErrInvalid.
func (s *Store) AddMembers(ctx context.Context, req GroupRequest) (Ack, error) {
	return s.changeGroup(ctx, actAdd, req)
}

// RemoveMembers removes req.Users: owners may remove anyone but themselves,
// admins only members. A removed user keeps what it could read, up to and
// including the removal event, and nothing after.
func (s *Store) RemoveMembers(ctx context.Context, req GroupRequest) (Ack, error) {
	return s.changeGroup(ctx, actRemove, req)
}

// LeaveGroup takes req.From out of the group. An owner who leaves hands the
// group to the longest-standing admin, or else member.
func (s *Store) LeaveGroup(ctx context.Context, req GroupRequest) (Ack, error) {
	return s.changeGroup(ctx, actLeave, req)
}

// RenameGroup renames the group; owners and admins may.
func (s *Store) RenameGroup(ctx context.Context, req GroupRequest) (Ack, error) {
	return s.changeGroup(ctx, actRename, req)
}

// DeleteGroup ends the group: every member is removed by one "deleted"
// event (the last entry they get, and can read), and the group takes no
// message after. Its owner, or the system, may.
func (s *Store) DeleteGroup(ctx context.Context, req GroupRequest) (Ack, error) {
	return s.changeGroup(ctx, actDelete, req)
}

// SetRole makes req.Users admins or plain members; only the owner may.
func (s *Store) SetRole(ctx context.Context, req GroupRequest) (Ack, error) {
	return s.changeGroup(ctx, actRole, req)
}

func (s *Store) changeGroup(ctx context.Context, act groupAction, req GroupRequest) (Ack, error) {
	return s.submitGroup(ctx, act, req, groupDigest(act, &req))
}

func groupDigest(act groupAction, r *GroupRequest) [digestSize]byte {
	return digest(string(act)+"\x00"+r.Conv+"\x00"+r.Name+"\x00"+string(r.Role), []byte(strings.Join(r.Users, "\x00")))
}

func (s *Store) submitGroup(ctx context.Context, act groupAction, req GroupRequest, d [digestSize]byte) (Ack, error) {
	if err := validateGroupRequest(act, &req); err != nil {
		return Ack{}, err
	}
	o := &groupOp{act: act, req: req, digest: d, done: make(chan error, 1)}
	if err := s.enqueue(ctx, o); err != nil {
		return Ack{}, err
	}
	if err := <-o.done; err != nil {
		return Ack{}, err
	}
	return o.ack, nil
}

// newGroupID returns a fresh group conversation id: 16 random characters.
func newGroupID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b [16]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return groupPrefix + string(b[:])
}

func validateGroupRequest(act groupAction, r *GroupRequest) error {
	switch {
	case r.From != "" && (!validID(r.From) || !validID(r.Device)):
		return fmt.Errorf("%w: user or device id", ErrInvalid)
	case r.From == "" && act == actLeave:
		return fmt.Errorf("%w: only a user can leave", ErrInvalid)
	case r.ClientID != "" && !validID(r.ClientID):
		return fmt.Errorf("%w: client id", ErrInvalid)
	case r.From != "" && r.ClientID == "":
		return fmt.Errorf("%w: a user's change needs a client id", ErrInvalid)
	case !isGroup(r.Conv) || !validID(r.Conv[len(groupPrefix):]) || strings.Contains(r.Conv[len(groupPrefix):], ":"):
		return fmt.Errorf("%w: group id", ErrInvalid)
	case len(r.Users) > maxUsersPerCall:
		return fmt.Errorf("%w: at most %d users per request", ErrTooMany, maxUsersPerCall)
	}
	for _, u := range r.Users {
		if !validID(u) || strings.Contains(u, ":") {
			return fmt.Errorf("%w: user id %q", ErrInvalid, u)
		}
	}
	switch act {
	case actCreate, actRename:
		if r.Name == "" || len(r.Name) > maxGroupName || !utf8.ValidString(r.Name) {
			return fmt.Errorf("%w: a group name is 1-%d bytes of UTF-8", ErrInvalid, maxGroupName)
		}
	case actAdd, actRemove, actRole:
		if len(r.Users) == 0 {
			return fmt.Errorf("%w: no users named", ErrInvalid)
		}
	}
	if act == actRole && r.Role != RoleAdmin && r.Role != RoleMember {
		return fmt.Errorf("%w: role must be admin or member", ErrInvalid)
	}
	return nil
}

// groupOp is a queued group change.
type groupOp struct {
	act    groupAction
	req    GroupRequest
	digest [digestSize]byte
	ack    Ack
	done   chan error // buffered: finish never blocks
}

func (o *groupOp) finish(err error) { o.done <- err }

func (o *groupOp) apply(c *committer) error {
	r := &o.req
	if ack, dup, err := c.checkDedup(r.From, r.Device, r.ClientID, o.digest); err != nil || dup {
		o.ack = ack
		return err
	}
	now := c.s.cfg.Now().UnixMilli()
	gs, found, err := c.loadGroup(r.Conv)
	if err != nil {
		return err
	}
	if o.act == actCreate {
		if found {
			return fmt.Errorf("%w: group %q exists", ErrConflict, r.Conv)
		}
		gs = &groupState{g: newGroup(r.Conv, r.Name, r.From, now, nil)}
	} else if !found {
		return ErrNotFound
	}
	g := gs.g
	actor, isMember := g.Member(r.From)
	if r.From != "" && !isMember && o.act != actCreate {
		return ErrNotFound // a non-member does not learn the group exists
	}

	// Work out the change: who is set (added, role changed), who removed.
	var set []Member
	var removed []string
	event := map[string]any{"event": string(o.act)}
	users := dedupUsers(r.Users)
	switch o.act {
	case actCreate:
		if r.From != "" {
			set = append(set, Member{User: r.From, Role: RoleOwner})
		}
		for _, u := range users {
			if u != r.From {
				set = append(set, Member{User: u, Role: RoleMember})
			}
		}
		event["name"] = r.Name
		event["users"] = memberUsers(set)
	case actAdd:
		if !g.canManage(r.From) {
			return ErrForbidden
		}
		for _, u := range users {
			if _, ok := g.Member(u); !ok {
				set = append(set, Member{User: u, Role: RoleMember})
			}
		}
		if len(set) == 0 {
			return fmt.Errorf("%w: every user named is a member already", ErrInvalid)
		}
		event["users"] = memberUsers(set)
	case actRemove:
		for _, u := range users {
			m, ok := g.Member(u)
			switch {
			case !ok:
				continue
			case u == r.From, m.Role == RoleOwner,
				r.From != "" && actor.Role != RoleOwner && m.Role != RoleMember,
				!g.canManage(r.From):
				return ErrForbidden
			}
			removed = append(removed, u)
		}
		if len(removed) == 0 {
			return fmt.Errorf("%w: no user named is a member", ErrInvalid)
		}
		event["users"] = removed
	case actLeave:
		removed = []string{r.From}
		if actor.Role == RoleOwner {
			if heir, ok := heirOf(g, r.From); ok {
				heir.Role = RoleOwner
				set = append(set, heir)
				event["owner"] = heir.User
			}
		}
	case actRename:
		if !g.canManage(r.From) {
			return ErrForbidden
		}
		event["name"] = r.Name
	case actDelete:
		if r.From != "" && actor.Role != RoleOwner {
			return ErrForbidden
		}
		if g.Len() == 0 {
			return ErrNotFound
		}
		removed = memberUsers(g.members)
	case actRole:
		if r.From != "" && actor.Role != RoleOwner {
			return ErrForbidden
		}
		for _, u := range users {
			m, ok := g.Member(u)
			if !ok || m.Role == RoleOwner {
				return fmt.Errorf("%w: %q is not a member the role of which can change", ErrInvalid, u)
			}
			m.Role = r.Role
			set = append(set, m)
		}
		event["users"] = users
		event["role"] = string(r.Role)
	}
	if r.From != "" {
		event["by"] = r.From
	}
	next := g.with(set, removed)
	if o.act == actRename {
		next.Name = r.Name
	}
	if o.act != actRole && next.Len() > c.s.cfg.MaxGroupSize {
		return fmt.Errorf("%w: a group has at most %d members", ErrTooMany, c.s.cfg.MaxGroupSize)
	}
	body, err := json.Marshal(event)
	if err != nil {
		return err
	}

	// Everyone in the group before or after hears of the change: the
	// removed read their own removal, the added their addition.
	joined := memberUsers(set)
	if o.act == actRole || o.act == actLeave {
		joined = nil
	}
	n := &newMessage{
		conv: r.Conv, from: r.From, device: r.Device, cid: r.ClientID, digest: o.digest,
		body: body, kind: KindEvent, group: next, gs: gs, also: removed,
	}
	if err := c.prepare(n); err != nil {
		return err
	}
	if o.act == actCreate {
		c.groups[r.Conv] = gs // loadGroup found none; the new one is ours now
	}
	ack := c.stage(n)
	for _, m := range set {
		if joined != nil {
			m.JoinSeq = ack.Seq
			c.put(memberKey(m.User, r.Conv), encodeMembership(membership{JoinSeq: ack.Seq}))
		}
		c.put(gMemberKey(r.Conv, m.User), encodeGMember(m)) // joined, or a role changed
	}
	for _, u := range removed {
		c.del(gMemberKey(r.Conv, u))
		old, _ := g.Member(u)
		c.put(memberKey(u, r.Conv), encodeMembership(membership{JoinSeq: old.JoinSeq, LeftSeq: ack.Seq}))
	}
	// Members joined at this event's seq: fix it in the published group.
	if len(joined) > 0 {
		fixed := slices.Clone(next.members)
		for _, u := range joined {
			fixed[next.index[u]].JoinSeq = ack.Seq
		}
		name := next.Name
		next = newGroup(next.Conv, name, next.Creator, next.Created, fixed)
	}
	gs.g = next
	c.putGroup(gs)
	o.ack = ack
	return nil
}

// heirOf picks who owns the group after its owner leaves: the admin, or else
// member, who joined first.
func heirOf(g *Group, owner string) (Member, bool) {
	var best Member
	found := false
	for _, want := range []Role{RoleAdmin, RoleMember} {
		for _, m := range g.members {
			if m.User != owner && m.Role == want && (!found || m.JoinSeq < best.JoinSeq) {
				best, found = m, true
			}
		}
		if found {
			return best, true
		}
	}
	return best, false
}

func memberUsers(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.User
	}
	return out
}

func dedupUsers(users []string) []string {
	out := slices.Clone(users)
	slices.Sort(out)
	return slices.Compact(out)
}

// groupState is the committer's view of a group, staged changes included.
type groupState struct {
	g        *Group
	activity uint64 // newest read-fan-out message id
}

// loadGroup returns the committer's state of conv, loading it from Pebble
// the first time.
func (c *committer) loadGroup(conv string) (*groupState, bool, error) {
	if gs, ok := c.groups[conv]; ok {
		return gs, true, nil
	}
	g, activity, found, err := readGroup(c.db, conv)
	if err != nil || !found {
		return nil, false, err
	}
	gs := &groupState{g: g, activity: activity}
	c.groups[conv] = gs
	return gs, true, nil
}

// putGroup stages gs's record and marks it changed in this batch, so that
// readers see it once the batch is durable.
func (c *committer) putGroup(gs *groupState) {
	g := gs.g
	c.put(groupKey(g.Conv), encodeGroup(&groupRecord{Name: g.Name, Creator: g.Creator, Created: g.Created, Activity: gs.activity}))
	c.changedGroups[g.Conv] = g
}

// readGroup reads a group's record and members.
func readGroup(r reader, conv string) (g *Group, activity uint64, found bool, err error) {
	v, found, err := getValue(r, groupKey(conv))
	if err != nil || !found {
		return nil, 0, false, err
	}
	rec, err := decodeGroup(v)
	if err != nil {
		return nil, 0, false, err
	}
	prefix := idPrefix(kindGMember, conv)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, 0, false, err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	var members []Member
	for ok := it.First(); ok; ok = it.Next() {
		user := string(it.Key()[len(prefix):])
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, 0, false, err
		}
		m, err := decodeGMember(user, v)
		if err != nil {
			return nil, 0, false, err
		}
		members = append(members, m)
	}
	if err := it.Error(); err != nil {
		return nil, 0, false, err
	}
	return newGroup(conv, rec.Name, rec.Creator, rec.Created, members), rec.Activity, true, nil
}

// Group returns the group conv as of the last durable commit, from memory
// when it can. It returns ErrNotFound if there is no such group.
func (s *Store) Group(conv string) (*Group, error) {
	if !isGroup(conv) || !validID(conv) {
		return nil, ErrNotFound
	}
	if g := s.groupCache.get(conv); g != nil {
		return g, nil
	}
	gen := s.groupCache.generation()
	var g *Group
	err := s.readDB(func(db *pebble.DB) error {
		var found bool
		var err error
		g, _, found, err = readGroup(db, conv)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("history: group %q: %w", conv, err)
	}
	s.groupCache.add(conv, g, gen)
	return g, nil
}

// GroupSeq is where a read-fan-out group stands.
type GroupSeq struct {
	Conv string
	Seq  uint64 // the last seq the user may read
}

// GroupsMoved returns the read-fan-out groups of user that took a message
// with an id above after, and the id it looked up to (to pass as after next
// time). It scans an index of such groups ordered by their newest message,
// so the cost follows the groups that moved, not the groups user is in.
func (s *Store) GroupsMoved(user string, after uint64) (moved []GroupSeq, upTo uint64, err error) {
	if !validID(user) {
		return nil, 0, fmt.Errorf("%w: user id", ErrInvalid)
	}
	err = s.readDB(func(db *pebble.DB) (err error) {
		upTo = s.durableID.Load()
		if after >= upTo {
			return nil
		}
		snap := db.NewSnapshot()
		defer snap.Close()
		it, err := snap.NewIter(&pebble.IterOptions{
			LowerBound: activityKey(after+1, ""),
			UpperBound: activityKey(upTo+1, ""),
		})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, it.Close()) }()
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			if len(k) < 10 {
				return fmt.Errorf("%w: key %q", errCorrupt, k)
			}
			conv := string(k[10:])
			v, found, err := getValue(snap, memberKey(user, conv))
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			ms, err := decodeMembership(v)
			if err != nil {
				return err
			}
			last, err := lastDurableSeq(snap, conv, upTo)
			if err != nil {
				return err
			}
			if _, hi := ms.window(last); hi > 0 && (ms.LeftSeq == 0 || hi >= ms.JoinSeq) {
				moved = append(moved, GroupSeq{Conv: conv, Seq: hi})
			}
		}
		return it.Error()
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("history: groups moved for %q: %w", user, err)
	}
	return moved, upTo, err
}

// lastDurableSeq returns conv's newest seq whose message is durable.
func lastDurableSeq(snap reader, conv string, durable uint64) (uint64, error) {
	last, err := getUvarint(snap, convSeqKey(conv))
	if err != nil {
		return 0, err
	}
	for ; last > 0; last-- {
		m, found, err := getMessage(snap, conv, last)
		if err != nil {
			return 0, err
		}
		if !found || m.ID <= durable {
			break
		}
	}
	return last, nil
}

// Receipt answers who of a group has read a message.
type Receipt struct {
	Conv    string
	Seq     uint64
	Members int      // members besides the sender
	Read    int      // of them, how many read up to Seq
	Readers []string // who, in user order, at most the first 500
}

const maxReaders = 500

// Receipts tells user which members of group conv have read seq. Read marks
// are held in memory per group once loaded, and kept current by the
// committer, so asking again costs no disk reads.
func (s *Store) Receipts(user, conv string, seq uint64) (Receipt, error) {
	g, err := s.Group(conv)
	if err != nil {
		return Receipt{}, err
	}
	if _, ok := g.Member(user); !ok {
		return Receipt{}, ErrNotFound
	}
	var sender string
	err = s.readDB(func(db *pebble.DB) error {
		m, found, err := getMessage(db, conv, seq)
		if err != nil {
			return err
		}
		if !found || m.ID > s.durableID.Load() {
			return ErrNotFound
		}
		sender = m.From
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) {
			return Receipt{}, err
		}
		return Receipt{}, fmt.Errorf("history: receipts: %w", err)
	}
	marks, err := s.groupMarks(conv)
	if err != nil {
		return Receipt{}, err
	}
	r := Receipt{Conv: conv, Seq: seq}
	marks.mu.RLock()
	defer marks.mu.RUnlock()
	for _, m := range g.Members() {
		if m.User == sender {
			continue
		}
		r.Members++
		if marks.m[m.User] >= seq {
			r.Read++
			if len(r.Readers) < maxReaders {
				r.Readers = append(r.Readers, m.User)
			}
		}
	}
	return r, nil
}

// Groups returns the groups user is a member of, newest activity first.
func (s *Store) Groups(user string) ([]Conversation, error) {
	convs, err := s.Conversations(user)
	if err != nil {
		return nil, err
	}
	out := convs[:0]
	for _, c := range convs {
		if isGroup(c.ID) && !c.Left {
			out = append(out, c)
		}
	}
	return out, nil
}

// SharedWith reports, for each of others, whether user shares a
// conversation with it now: a direct conversation, or a group both are
// members of. It reads user's memberships once, however many others.
func (s *Store) SharedWith(user string, others []string) ([]bool, error) {
	if !validID(user) {
		return nil, fmt.Errorf("%w: user id", ErrInvalid)
	}
	shared := make([]bool, len(others))
	var groups []string
	err := s.readDB(func(db *pebble.DB) error {
		snap := db.NewSnapshot()
		defer snap.Close()
		for i, o := range others {
			if o == user {
				shared[i] = true
				continue
			}
			if !validID(o) || strings.Contains(o, ":") {
				continue
			}
			found, err := has(snap, memberKey(user, DirectConv(user, o)))
			if err != nil {
				return err
			}
			shared[i] = found
		}
		ids, err := memberships(snap, user)
		for _, id := range ids {
			if isGroup(id) {
				groups = append(groups, id)
			}
		}
		return err
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("history: shared conversations of %q: %w", user, err)
	}
	for _, conv := range groups {
		g, err := s.Group(conv)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if _, ok := g.Member(user); !ok {
			continue // left it
		}
		for i, o := range others {
			if !shared[i] {
				_, shared[i] = g.Member(o)
			}
		}
	}
	return shared, nil
}
