package offlinepush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Display modes: what a push shows.
const (
	DisplayFull    = "full"    // sender and text
	DisplaySummary = "summary" // "New message"
	DisplayHidden  = "hidden"  // nothing shown: data only, the app renders it
)

// Settings are a user's push preferences, the same on all its devices.
type Settings struct {
	// DND: do not disturb, always.
	DND bool `json:"dnd"`
	// QuietStart and QuietEnd ("HH:MM", 24 h) are daily do-not-disturb
	// hours in TimeZone; the span may cross midnight. Both empty: none.
	QuietStart string `json:"quiet_start,omitempty"`
	QuietEnd   string `json:"quiet_end,omitempty"`
	// TimeZone is an IANA zone name ("Europe/Paris"); default UTC.
	TimeZone string `json:"tz,omitempty"`
	// Display is DisplayFull (default), DisplaySummary or DisplayHidden.
	Display string `json:"display,omitempty"`
	// Locale picks the templates ("en", "zh", ...); default "en".
	Locale string `json:"locale,omitempty"`
	// Silent: when DND or a mute holds a push back, send it silently (the
	// badge moves, nothing alerts) instead of not at all.
	Silent bool `json:"silent,omitempty"`
}

// ErrInvalid reports settings or arguments that make no sense; its text
// names the field.
var ErrInvalid = errors.New("offlinepush: invalid")

// Validate checks s and fills its defaults.
func (s *Settings) Validate() error {
	if (s.QuietStart == "") != (s.QuietEnd == "") {
		return fmt.Errorf("%w: quiet_start and quiet_end go together", ErrInvalid)
	}
	for _, v := range []string{s.QuietStart, s.QuietEnd} {
		if _, ok := minutes(v); v != "" && !ok {
			return fmt.Errorf("%w: quiet hours are HH:MM, not %q", ErrInvalid, v)
		}
	}
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			return fmt.Errorf("%w: unknown time zone %q", ErrInvalid, s.TimeZone)
		}
	}
	switch s.Display {
	case "":
		s.Display = DisplayFull
	case DisplayFull, DisplaySummary, DisplayHidden:
	default:
		return fmt.Errorf("%w: display is full, summary or hidden, not %q", ErrInvalid, s.Display)
	}
	if s.Locale == "" {
		s.Locale = "en"
	}
	if len(s.Locale) > 16 {
		return fmt.Errorf("%w: locale %q", ErrInvalid, s.Locale)
	}
	return nil
}

// minutes parses "HH:MM" into minutes after midnight.
func minutes(v string) (int, bool) {
	if len(v) != 5 || v[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(v[:2])
	m, err2 := strconv.Atoi(v[3:])
	if err1 != nil || err2 != nil || h > 23 || m > 59 || h < 0 || m < 0 {
		return 0, false
	}
	return h*60 + m, true
}

// quiet reports whether DND or quiet hours hold at now.
func (s *Settings) quiet(now time.Time) bool {
	if s.DND {
		return true
	}
	start, ok1 := minutes(s.QuietStart)
	end, ok2 := minutes(s.QuietEnd)
	if !ok1 || !ok2 || start == end {
		return false
	}
	loc := time.UTC
	if s.TimeZone != "" {
		if l, err := time.LoadLocation(s.TimeZone); err == nil {
			loc = l
		}
	}
	t := now.In(loc)
	m := t.Hour()*60 + t.Minute()
	if start < end {
		return m >= start && m < end
	}
	return m >= start || m < end // across midnight
}

// Mute silences one conversation for one user until Until (Unix ms; 0:
// until unmuted).
type Mute struct {
	Until int64 `json:"until"`
}

func (m Mute) active(now time.Time) bool { return m.Until == 0 || now.UnixMilli() < m.Until }

// SetSettings stores user's settings.
func (s *Service) SetSettings(ctx context.Context, user string, st Settings) (Settings, error) {
	if err := st.Validate(); err != nil {
		return Settings{}, err
	}
	v, err := json.Marshal(st)
	if err != nil {
		return Settings{}, err
	}
	return st, s.kv.Apply(ctx, Op{Key: key(recSetting, user), Value: v})
}

// Settings returns user's settings, the defaults if it set none.
func (s *Service) Settings(user string) (Settings, error) {
	st := Settings{Display: DisplayFull, Locale: "en"}
	v, found, err := s.kv.Get(key(recSetting, user))
	if err != nil || !found {
		return st, err
	}
	if err := json.Unmarshal(v, &st); err != nil {
		return st, fmt.Errorf("offlinepush: settings of %q: %w", user, err)
	}
	return st, nil
}

// SetMute mutes conv for user (muted false unmutes it); until is when the
// mute ends, zero for never.
func (s *Service) SetMute(ctx context.Context, user, conv string, muted bool, until time.Time) error {
	if !muted {
		return s.kv.Apply(ctx, Op{Key: key(recMute, user, conv), Delete: true})
	}
	var m Mute
	if !until.IsZero() {
		m.Until = until.UnixMilli()
	}
	v, _ := json.Marshal(m)
	return s.kv.Apply(ctx, Op{Key: key(recMute, user, conv), Value: v})
}

// Mutes returns user's muted conversations that are still muted.
func (s *Service) Mutes(user string) (map[string]Mute, error) {
	out := make(map[string]Mute)
	p := prefix(recMute, user)
	now := s.cfg.Now()
	err := s.kv.Scan(p, func(k, v []byte) error {
		var m Mute
		if json.Unmarshal(v, &m) == nil && m.active(now) {
			out[string(k[len(p):])] = m
		}
		return nil
	})
	return out, err
}

func (s *Service) muted(user, conv string, now time.Time) bool {
	v, found, err := s.kv.Get(key(recMute, user, conv))
	if err != nil || !found {
		return false
	}
	var m Mute
	return json.Unmarshal(v, &m) == nil && m.active(now)
}
