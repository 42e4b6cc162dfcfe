package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// schemaChecker validates JSON values against the subset of JSON Schema
// 2020-12 the OpenAPI document uses (schemaKeywords), resolving $refs in
// the document, and makes sample values from schemas.
type schemaChecker struct {
	root map[string]any // the OpenAPI document
}

// schemaKeywords are the keywords schemaChecker understands: the document
// may use no other, so that nothing it says goes unchecked. description and
// examples are annotations.
var schemaKeywords = []string{
	"$ref", "type", "properties", "required", "additionalProperties", "items",
	"enum", "const", "minLength", "maxLength", "pattern", "format",
	"minimum", "maximum", "minItems", "maxItems", "minProperties", "maxProperties",
	"oneOf", "anyOf", "dependentRequired", "description", "examples",
}

// parseJSON decodes data keeping numbers exact.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

// resolve follows a local JSON pointer reference.
func (c *schemaChecker) resolve(ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("%s: not a local reference", ref)
	}
	var at any = c.root
	for tok := range strings.SplitSeq(p, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := at.(type) {
		case map[string]any:
			v, ok := x[tok]
			if !ok {
				return nil, fmt.Errorf("%s: no %q", ref, tok)
			}
			at = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("%s: no index %q", ref, tok)
			}
			at = x[i]
		default:
			return nil, fmt.Errorf("%s: %q is in a scalar", ref, tok)
		}
	}
	return at, nil
}

// flat is schema s with its $ref's keywords under its own.
func (c *schemaChecker) flat(s any) map[string]any {
	sm, _ := s.(map[string]any)
	ref, ok := sm["$ref"].(string)
	if !ok {
		return sm
	}
	target, err := c.resolve(ref)
	if err != nil {
		return sm
	}
	out := maps.Clone(c.flat(target))
	for k, v := range sm {
		if k != "$ref" {
			out[k] = v
		}
	}
	return out
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func num(v any) float64 {
	switch n := v.(type) {
	case json.Number:
		f, _ := n.Float64()
		return f
	case float64:
		return n
	case int:
		return float64(n)
	}
	return 0
}

func isType(t string, v any) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if !strings.ContainsAny(string(n), ".eE") {
			return true
		}
		f, err := n.Float64()
		return err == nil && f == float64(int64(f))
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

// check lists how v, at JSON pointer at, breaks schema s.
func (c *schemaChecker) check(s any, v any, at string) []string {
	if b, ok := s.(bool); ok {
		if !b {
			return []string{at + ": no value is allowed here"}
		}
		return nil
	}
	sm, ok := s.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: the schema is a %T", at, s)}
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	if ref, ok := sm["$ref"].(string); ok {
		target, err := c.resolve(ref)
		if err != nil {
			fail("%v", err)
		} else {
			errs = append(errs, c.check(target, v, at)...)
		}
	}
	if t, ok := sm["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return isType(t, v) }) {
			fail("want %v, have %s", t, short(v))
			return errs
		}
	}
	if enum, ok := sm["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return sameJSON(e, v) }) {
		fail("%s is not one of %v", short(v), enum)
	}
	if cv, ok := sm["const"]; ok && !sameJSON(cv, v) {
		fail("%s is not %v", short(v), cv)
	}
	switch v := v.(type) {
	case string:
		n := utf8.RuneCountInString(v)
		if m, ok := sm["minLength"]; ok && float64(n) < num(m) {
			fail("%q is shorter than %v", v, m)
		}
		if m, ok := sm["maxLength"]; ok && float64(n) > num(m) {
			fail("%q is longer than %v", v, m)
		}
		if p, ok := sm["pattern"].(string); ok {
			if re, err := regexp.Compile(p); err != nil {
				fail("pattern %q: %v", p, err)
			} else if !re.MatchString(v) {
				fail("%q does not match %q", v, p)
			}
		}
		if sm["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				fail("%q is not a date-time", v)
			}
		}
	case json.Number:
		if m, ok := sm["minimum"]; ok && num(v) < num(m) {
			fail("%v is below %v", v, m)
		}
		if m, ok := sm["maximum"]; ok && num(v) > num(m) {
			fail("%v is above %v", v, m)
		}
	case []any:
		if m, ok := sm["minItems"]; ok && float64(len(v)) < num(m) {
			fail("%d items, fewer than %v", len(v), m)
		}
		if m, ok := sm["maxItems"]; ok && float64(len(v)) > num(m) {
			fail("%d items, more than %v", len(v), m)
		}
		if items, ok := sm["items"]; ok {
			for i, x := range v {
				errs = append(errs, c.check(items, x, at+"/"+strconv.Itoa(i))...)
			}
		}
	case map[string]any:
		if m, ok := sm["minProperties"]; ok && float64(len(v)) < num(m) {
			fail("%d properties, fewer than %v", len(v), m)
		}
		if m, ok := sm["maxProperties"]; ok && float64(len(v)) > num(m) {
			fail("%d properties, more than %v", len(v), m)
		}
		if req, ok := sm["required"].([]any); ok {
			for _, name := range req {
				if _, ok := v[name.(string)]; !ok {
					fail("%q is missing", name)
				}
			}
		}
		if dr, ok := sm["dependentRequired"].(map[string]any); ok {
			for k, deps := range dr {
				if _, ok := v[k]; !ok {
					continue
				}
				for _, d := range deps.([]any) {
					if _, ok := v[d.(string)]; !ok {
						fail("%q needs %q", k, d)
					}
				}
			}
		}
		props, _ := sm["properties"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if ps, ok := props[k]; ok {
				errs = append(errs, c.check(ps, v[k], at+"/"+k)...)
			} else if ap, ok := sm["additionalProperties"]; ok {
				if ap == false {
					fail("%q is not a documented property", k)
				} else {
					errs = append(errs, c.check(ap, v[k], at+"/"+k)...)
				}
			}
		}
	}
	if oneOf, ok := sm["oneOf"].([]any); ok {
		n := 0
		for _, b := range oneOf {
			if len(c.check(b, v, at)) == 0 {
				n++
			}
		}
		if n != 1 {
			fail("matches %d of oneOf, not exactly 1", n)
		}
	}
	if anyOf, ok := sm["anyOf"].([]any); ok && !slices.ContainsFunc(anyOf, func(b any) bool { return len(c.check(b, v, at)) == 0 }) {
		fail("matches none of anyOf")
	}
	return errs
}

func short(v any) string {
	data, _ := json.Marshal(v)
	if len(data) > 80 {
		return string(data[:80]) + "..."
	}
	return string(data)
}

// sampling says how to make samples.
type sampling struct {
	full   bool           // every property of an object, not only the required
	over   map[string]any // the values of properties of these names
	prefer string         // the oneOf and anyOf branch that requires this property
}

// sample makes a value that schema s allows: an object has its required
// properties (all of them if o.full), and those of the first branch (or
// the preferred one) of a oneOf and an anyOf.
func (c *schemaChecker) sample(s any, o sampling) (any, error) {
	full, over := o.full, o.over
	sm := c.flat(s)
	if ex, ok := sm["examples"].([]any); ok && len(ex) > 0 {
		return ex[0], nil
	}
	if cv, ok := sm["const"]; ok {
		return cv, nil
	}
	if enum, ok := sm["enum"].([]any); ok && len(enum) > 0 {
		return enum[0], nil
	}
	t := sm["type"]
	if ts, ok := t.([]any); ok {
		t = ts[0]
	}
	switch t {
	case "object":
		props, _ := sm["properties"].(map[string]any)
		out := map[string]any{}
		var err error
		add := func(name string, extra map[string]any) {
			if v, ok := over[name]; ok {
				out[name] = v
				return
			}
			ps := c.flat(props[name])
			if extra != nil {
				ps = maps.Clone(ps)
				maps.Copy(ps, extra)
			}
			v, e := c.sample(ps, o)
			if e != nil && err == nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
			out[name] = v
		}
		req, _ := sm["required"].([]any)
		for _, name := range req {
			add(name.(string), nil)
		}
		if full {
			for name := range props {
				add(name, nil)
			}
		}
		for _, key := range []string{"oneOf", "anyOf"} {
			branches, _ := sm[key].([]any)
			if len(branches) == 0 {
				continue
			}
			b := branches[0].(map[string]any)
			for _, br := range branches {
				if req, _ := br.(map[string]any)["required"].([]any); slices.Contains(req, any(o.prefer)) {
					b = br.(map[string]any)
				}
			}
			bprops, _ := b["properties"].(map[string]any)
			breq, _ := b["required"].([]any)
			for _, name := range breq {
				extra, _ := bprops[name.(string)].(map[string]any)
				add(name.(string), extra)
			}
		}
		if dr, ok := sm["dependentRequired"].(map[string]any); ok {
			for k, deps := range dr {
				if _, ok := out[k]; ok {
					for _, d := range deps.([]any) {
						add(d.(string), nil)
					}
				}
			}
		}
		if ap, ok := sm["additionalProperties"].(map[string]any); ok && (full || num(sm["minProperties"]) > 0) {
			v, e := c.sample(ap, o)
			if e != nil && err == nil {
				err = e
			}
			out["k"] = v
		}
		return out, err
	case "array":
		n := int(num(sm["minItems"]))
		if full {
			n = max(n, 1)
		}
		out := []any{}
		for range n {
			v, err := c.sample(sm["items"], o)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case "string":
		if sm["format"] == "date-time" {
			return time.Now().Add(time.Hour).UTC().Format(time.RFC3339), nil
		}
		if _, ok := sm["pattern"]; ok {
			return nil, fmt.Errorf("a string with a pattern and no examples")
		}
		return strings.Repeat("x", max(1, int(num(sm["minLength"])))), nil
	case "integer", "number":
		return num(sm["minimum"]), nil
	case "boolean":
		return true, nil
	case nil:
		return map[string]any{}, nil
	}
	return nil, fmt.Errorf("no sample of type %v", t)
}
