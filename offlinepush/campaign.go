package offlinepush

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// A campaign is a notification-only push a backend sends to users,
// devices, a tag expression or everyone: no chat message behind it. Its
// id shares the outcome records of messages, in a range of its own (the
// top bit set), so Outcomes serves its report too.
const campaignBit = 1 << 63

func isCampaign(id uint64) bool { return id&campaignBit != 0 }

// ReasonCancelled is the outcome of a campaign's push cancelled before it
// was sent.
const ReasonCancelled = "cancelled"

// ErrStarted: a campaign cannot be cancelled once its send time has come.
var ErrStarted = errors.New("offlinepush: the push has started")

// ErrNoCampaign: no campaign has this id.
var ErrNoCampaign = errors.New("offlinepush: no such push")

// Campaign is a push to send.
type Campaign struct {
	Title, Body string
	Data        map[string]string
	// Platforms overrides the title and body for devices of a platform
	// ("ios", "android", "web", ...).
	Platforms map[string]Template
	// SendAt schedules it; zero or past: now.
	SendAt time.Time
}

type campaignRecord struct {
	SendAt    int64 `json:"send_at"`
	Devices   int   `json:"devices"`
	Cancelled bool  `json:"cancelled,omitempty"`
}

func campaignKey(id uint64) []byte { return binary.BigEndian.AppendUint64([]byte{recCampaign}, id) }

// AllBindings calls fn with every bound token, user by user.
func (s *Service) AllBindings(fn func(Binding) error) error {
	s.reg.mu.RLock()
	var all []Binding
	for _, bs := range s.reg.users {
		all = append(all, bs...)
	}
	s.reg.mu.RUnlock()
	for _, b := range all {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// SendCampaign queues c to every binding in one durable write and
// returns its id; each device's outcome is recorded as for a message.
func (s *Service) SendCampaign(ctx context.Context, c Campaign, to []Binding) (uint64, error) {
	now := s.cfg.Now()
	at := c.SendAt
	if at.Before(now) {
		at = now
	}
	s.mu.Lock()
	s.jobSeq++
	id := campaignBit | s.jobSeq
	s.mu.Unlock()
	rec, _ := json.Marshal(campaignRecord{SendAt: at.UnixMilli(), Devices: len(to)})
	ops := []Op{{Key: campaignKey(id), Value: rec}}
	for _, b := range to {
		n := Notification{Token: b.Token, Platform: b.Platform, Credential: b.Credential, Title: c.Title, Body: c.Body,
			CollapseKey: "push-" + strconv.FormatUint(id&^campaignBit, 10), TTL: s.cfg.TTL, High: true,
			Data: map[string]string{"type": "push", "push_id": strconv.FormatUint(id, 10)}}
		for k, v := range c.Data {
			if k != "type" && k != "push_id" {
				n.Data[k] = v
			}
		}
		if o, ok := c.Platforms[b.Platform]; ok {
			n.Title, n.Body = o.Title, o.Body
		}
		n.Silent = n.Title == "" && n.Body == ""
		j := job{MsgID: id, Binding: b, N: n, Deadline: at.Add(s.cfg.TTL).UnixMilli()}
		op := s.jobOp(now, &j)
		if at.After(now) { // scheduled: the job waits under its send time
			j.Due = at.UnixMilli()
			v, _ := json.Marshal(j)
			op = Op{Key: jobKey(j.Due, j.ID), Value: v}
		}
		o, _ := json.Marshal(Outcome{MsgID: id, User: b.User, Device: b.Device, Status: StatusQueued, Vendor: b.Vendor, At: now.UnixMilli()})
		ops = append(ops, op, Op{Key: outcomeKey(id, b.User, b.Device), Value: o})
	}
	if err := s.kv.Apply(ctx, ops...); err != nil {
		return 0, err
	}
	wake(s.wakeQ)
	return id, nil
}

// CancelCampaign cancels a campaign whose send time has not come.
func (s *Service) CancelCampaign(ctx context.Context, id uint64) error {
	v, found, err := s.kv.Get(campaignKey(id))
	if err != nil {
		return err
	}
	if !found || !isCampaign(id) {
		return ErrNoCampaign
	}
	var rec campaignRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return err
	}
	if rec.Cancelled {
		return nil
	}
	if s.cfg.Now().UnixMilli() >= rec.SendAt {
		return ErrStarted
	}
	rec.Cancelled = true
	v, _ = json.Marshal(rec)
	return s.kv.Apply(ctx, Op{Key: campaignKey(id), Value: v})
}

// CampaignExists reports whether id is a campaign, and if it was cancelled.
func (s *Service) CampaignExists(id uint64) (exists, cancelled bool, err error) {
	v, found, err := s.kv.Get(campaignKey(id))
	if err != nil || !found {
		return false, false, err
	}
	var rec campaignRecord
	err = json.Unmarshal(v, &rec)
	return true, rec.Cancelled, err
}

func (s *Service) cancelled(id uint64) bool {
	_, c, _ := s.CampaignExists(id)
	return c
}
