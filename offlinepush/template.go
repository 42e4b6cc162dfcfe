package offlinepush

import (
	"encoding/json"
	"strings"
)

// Template is the text of a push; {sender}, {conv} and {text} are replaced
// by the sender's id, the conversation's name (a group's name, else the
// sender) and a preview of the message's text.
type Template struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

// Templates are keyed by message kind, then locale. Kinds: "direct" (a 1:1
// message), "group", "mention" (a group message that mentions the user)
// and "summary" (the display mode that shows no content). A missing
// locale falls back to "en".
type Templates map[string]map[string]Template

// DefaultTemplates are English and Chinese.
func DefaultTemplates() Templates {
	return Templates{
		"direct": {
			"en": {Title: "{sender}", Body: "{text}"},
			"zh": {Title: "{sender}", Body: "{text}"},
		},
		"group": {
			"en": {Title: "{conv}", Body: "{sender}: {text}"},
			"zh": {Title: "{conv}", Body: "{sender}: {text}"},
		},
		"mention": {
			"en": {Title: "{conv}", Body: "{sender} mentioned you: {text}"},
			"zh": {Title: "{conv}", Body: "{sender} 提到了你: {text}"},
		},
		"summary": {
			"en": {Title: "New message", Body: ""},
			"zh": {Title: "新消息", Body: ""},
		},
	}
}

// pick returns the template of kind in locale, or in English.
func (t Templates) pick(kind, locale string) Template {
	byLocale := t[kind]
	if tpl, ok := byLocale[locale]; ok {
		return tpl
	}
	if base, _, ok := strings.Cut(locale, "-"); ok {
		if tpl, ok := byLocale[base]; ok {
			return tpl
		}
	}
	if tpl, ok := byLocale["en"]; ok {
		return tpl
	}
	return DefaultTemplates()[kind]["en"]
}

// maxPreview bounds the text a push carries before a vendor cuts it to its
// own limit.
const maxPreview = 240

func (tpl Template) render(sender, conv, text string) (title, body string) {
	r := strings.NewReplacer("{sender}", sender, "{conv}", conv, "{text}", text)
	return r.Replace(tpl.Title), r.Replace(tpl.Body)
}

// preview is the text a message shows: its body's "text" field, cut, or
// "[message]" for a body without one (an image, a file...).
func preview(body []byte) string {
	var b struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(body, &b) != nil || b.Text == "" {
		return "[message]"
	}
	return Truncate(b.Text, maxPreview)
}

// mentions reports whether body mentions user: a "mentions" array naming
// it, or naming "@all".
func mentions(body []byte, user string) bool {
	var b struct {
		Mentions []string `json:"mentions"`
	}
	if json.Unmarshal(body, &b) != nil {
		return false
	}
	for _, m := range b.Mentions {
		if m == user || m == "@all" {
			return true
		}
	}
	return false
}
