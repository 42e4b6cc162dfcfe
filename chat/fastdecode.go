package chat

import (
	"encoding/json"
	"unicode/utf8"
)

// decodeFrameFast parses the common shape of client frames without
// reflection: one object whose keys are inFrame's, with plain ASCII string
// values (no escapes), unsigned integers, and an object body. It reports
// false for anything else, which then goes through decodeFrame; the fuzz
// test checks that both agree wherever the fast path answers.
func decodeFrameFast(data []byte) (*inFrame, bool) {
	p := scanner{b: data}
	p.space()
	if !p.eat('{') {
		return nil, false
	}
	var f inFrame
	p.space()
	if p.eat('}') {
		return nil, false // no type: let the slow path word the error
	}
	for {
		p.space()
		key, ok := p.str()
		if !ok {
			return nil, false
		}
		p.space()
		if !p.eat(':') {
			return nil, false
		}
		p.space()
		switch key {
		case "type":
			f.Type, ok = p.str()
		case "id":
			f.ID, ok = p.str()
		case "token":
			f.Token, ok = p.str()
		case "device":
			f.Device, ok = p.str()
		case "platform":
			f.Platform, ok = p.str()
		case "to":
			f.To, ok = p.str()
		case "cid":
			f.CID, ok = p.str()
		case "conv":
			f.Conv, ok = p.str()
		case "body":
			f.Body, ok = p.object()
		case "after":
			f.After, ok = p.uintPtr()
		case "pts":
			f.Pts, ok = p.uintPtr()
		case "seq":
			f.Seq, ok = p.uintPtr()
		case "before":
			var v *uint64
			if v, ok = p.uintPtr(); ok {
				f.Before = *v
			}
		case "limit":
			var v *uint64
			if v, ok = p.uintPtr(); ok && *v <= 1<<31-1 {
				f.Limit = int(*v)
			} else {
				ok = false
			}
		default:
			return nil, false
		}
		if !ok {
			return nil, false
		}
		p.space()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			return nil, false
		}
	}
	p.space()
	if p.i != len(p.b) || f.Type == "" || len(f.ID) > maxIDLen {
		return nil, false
	}
	return &f, true
}

type scanner struct {
	b []byte
	i int
}

func (p *scanner) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *scanner) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (p *scanner) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", false
		}
		p.i++
	}
	return "", false
}

// uintPtr reads a JSON integer that fits a uint64.
func (p *scanner) uintPtr() (*uint64, bool) {
	start := p.i
	var v uint64
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		d := uint64(p.b[p.i] - '0')
		if v > (1<<64-1-d)/10 {
			return nil, false
		}
		v = v*10 + d
		p.i++
	}
	n := p.i - start
	if n == 0 || (n > 1 && p.b[start] == '0') {
		return nil, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return nil, false
		}
	}
	return &v, true
}

// object reads a JSON object value and returns its bytes; invalid UTF-8
// in it (which encoding/json lets through) is left to the slow path.
func (p *scanner) object() (json.RawMessage, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return nil, false
	}
	start, depth, inStr := p.i, 0, false
	for ; p.i < len(p.b); p.i++ {
		c := p.b[p.i]
		if inStr {
			switch c {
			case '\\':
				p.i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				p.i++
				raw := p.b[start:p.i]
				if !json.Valid(raw) || !utf8.Valid(raw) {
					return nil, false
				}
				return json.RawMessage(raw), true
			}
		}
	}
	return nil, false
}
