package chat

import (
	"context"
	"strconv"

	"github.com/loftchat/loft/history"
)

// handleGroupChange answers a group_create, group_add, group_remove,
// group_leave, group_rename or group_role frame with the ack of the event
// it appended to the group (its conv names a new group). It waits for the
// commit: changes are rare, and their order on a connection matters.
func (s *session) handleGroupChange(f *inFrame) error {
	if !ValidID(f.CID) {
		return badFrame(`"cid" must be 1-64 letters, digits or . _ - @, unique per device`)
	}
	if f.Type != FrameGroupCreate && !validGroup(f.Conv) {
		return badFrame(`"conv" must be a group id ("g:...")`)
	}
	for _, u := range f.Users {
		if !ValidID(u) {
			return badFrame(`"users" must be user ids: 1-64 letters, digits or . _ - @`)
		}
	}
	req := history.GroupRequest{From: s.user, Device: s.device, ClientID: f.CID, Conv: f.Conv, Users: f.Users, Name: f.Name, Role: history.Role(f.Role)}
	store := s.srv.cfg.Store
	ctx := context.Background()
	var ack history.Ack
	var err error
	switch f.Type {
	case FrameGroupCreate:
		if f.Conv != "" {
			return badFrame(`"conv" is picked by the server for a new group`)
		}
		ack, err = store.CreateGroup(ctx, req)
	case FrameGroupAdd:
		ack, err = store.AddMembers(ctx, req)
	case FrameGroupRemove:
		ack, err = store.RemoveMembers(ctx, req)
	case FrameGroupLeave:
		ack, err = store.LeaveGroup(ctx, req)
	case FrameGroupRename:
		ack, err = store.RenameGroup(ctx, req)
	case FrameGroupRole:
		ack, err = store.SetRole(ctx, req)
	}
	if err != nil {
		return err
	}
	s.reply(encodeAck(f.ID, ack))
	return nil
}

// validGroup reports whether conv has the shape of a group id.
func validGroup(conv string) bool {
	return len(conv) > 2 && conv[:2] == "g:" && ValidID(conv[2:])
}

type memberJSON struct {
	User string `json:"user"`
	Role string `json:"role"`
}

// handleGroupMembers lists a group's members to one of them.
func (s *session) handleGroupMembers(f *inFrame) error {
	if !validGroup(f.Conv) {
		return badFrame(`"conv" must be a group id ("g:...")`)
	}
	g, err := s.srv.cfg.Store.Group(f.Conv)
	if err != nil {
		return err
	}
	if _, ok := g.Member(s.user); !ok {
		return history.ErrNotFound
	}
	members := make([]memberJSON, g.Len())
	for i, m := range g.Members() {
		members[i] = memberJSON{m.User, string(m.Role)}
	}
	s.reply(encodeJSON("group_members", f.ID, struct {
		Conv    string       `json:"conv"`
		Name    string       `json:"name"`
		Owner   string       `json:"owner"`
		Members []memberJSON `json:"members"`
	}{g.Conv, g.Name, g.Owner(), members}))
	return nil
}

// handleGroups lists the groups the user is in.
func (s *session) handleGroups(f *inFrame) error {
	groups, err := s.srv.cfg.Store.Groups(s.user)
	if err != nil {
		return err
	}
	s.reply(encodeJSON("groups", f.ID, struct {
		Groups []conversationJSON `json:"groups"`
	}{s.conversationsJSON(groups)}))
	return nil
}

// handleReceipts tells who of a group has read a message.
func (s *session) handleReceipts(f *inFrame) error {
	if !validGroup(f.Conv) {
		return badFrame(`"conv" must be a group id ("g:..."); a direct conversation's read mark is in conversations`)
	}
	if f.Seq == nil || *f.Seq == 0 {
		return badFrame(`"seq" is required`)
	}
	r, err := s.srv.cfg.Store.Receipts(s.user, f.Conv, *f.Seq)
	if err != nil {
		return err
	}
	readers := r.Readers
	if readers == nil {
		readers = []string{}
	}
	s.reply(encodeJSON("receipts", f.ID, struct {
		Conv    string   `json:"conv"`
		Seq     uint64   `json:"seq"`
		Members int      `json:"members"`
		Read    int      `json:"read"`
		Readers []string `json:"readers"`
	}{r.Conv, r.Seq, r.Members, r.Read, readers}))
	return nil
}

// handleHistoryAfter pages a conversation forwards from after: how a device
// catches up on a read-fan-out group it was told moved on.
func (s *session) handleHistoryAfter(f *inFrame) error {
	msgs, more, err := s.srv.cfg.Store.HistoryAfter(s.user, f.Conv, *f.After, f.Limit)
	if err != nil {
		return err
	}
	s.replyHistory(f, msgs, more)
	return nil
}

// encodeGroupSeq is the frame that tells a member of a read-fan-out group
// that the group moved on to seq.
func encodeGroupSeq(conv string, seq uint64) []byte {
	b := make([]byte, 0, 48+len(conv))
	b = appendHead(b, "group_seq", "")
	b = append(b, `,"conv":`...)
	b = appendString(b, conv)
	b = appendUint(b, "seq", seq)
	return append(b, '}')
}

// publishGroupSeq tells every member of a read-fan-out group, and those a
// removal just took out, that the group moved on.
func (s *Server) publishGroupSeq(a history.Appended) {
	frame := encodeGroupSeq(a.Message.Conv, a.Message.Seq)
	ev := Event{Frame: frame}
	for _, m := range a.Group.Members() {
		s.cfg.Router.Publish(m.User, ev)
	}
	for _, u := range a.Also {
		s.cfg.Router.Publish(u, ev)
	}
}

// handleChange answers recall, edit and delete: each appends an event that
// names the message it changes, acked like a send.
func (s *session) handleChange(f *inFrame) error {
	if !validConv(f.Conv) {
		return badFrame(`"conv" must be a conversation id`)
	}
	if f.Seq == nil || *f.Seq == 0 {
		return badFrame(`"seq" is required: the message to change`)
	}
	if !ValidID(f.CID) {
		return badFrame(`"cid" must be 1-64 letters, digits or . _ - @, unique per device`)
	}
	body := []byte("{}")
	kind := history.KindRecall
	switch f.Type {
	case FrameEdit:
		kind = history.KindEdit
		var err error
		if body, err = s.checkBody(f.Body); err != nil {
			return err
		}
	case FrameDelete:
		kind = history.KindDelete
	}
	if f.Type != FrameEdit && f.Body != nil {
		return badFrame(`only an edit carries a "body"`)
	}
	return s.submit(f.ID, history.AppendRequest{From: s.user, Device: s.device, ClientID: f.CID, Conv: f.Conv, Kind: kind, Ref: *f.Seq, Body: body})
}

// checkBody validates and compacts a message body.
func (s *session) checkBody(raw []byte) ([]byte, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, badFrame(`"body" must be a JSON object`)
	}
	if len(raw) > s.srv.cfg.MaxBody {
		return nil, &frameError{CodeTooLarge, "body is larger than the limit of " + strconv.Itoa(s.srv.cfg.MaxBody) + " bytes"}
	}
	return compactBody(raw)
}
