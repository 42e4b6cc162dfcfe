package offlinepush

import (
	"fmt"
	"slices"
	"strings"
)

// Limits of a tag expression.
const (
	// MaxExprTags is how many tag terms an expression may name.
	MaxExprTags = 64
	// MaxExprDepth is how deeply an expression may nest: each open
	// parenthesis and each NOT counts one level.
	MaxExprDepth = 16
)

// Expr is a parsed tag expression: tags joined by AND, OR and NOT. Make one
// with ParseExpr; its String is its canonical form, which ParseExpr reads
// back to the same Expr. An Expr is immutable and safe for concurrent use.
type Expr interface {
	// Eval reports whether a target holding exactly the tags for which
	// has returns true satisfies the expression.
	Eval(has func(tag string) bool) bool
	// String is the canonical form: operators in upper case, single
	// spaces, parentheses only where precedence needs them.
	String() string

	// required returns tags of which every satisfying tag set holds at
	// least one; ok is false if there is no such bound (a NOT term can be
	// satisfied by a set holding none of the named tags).
	required() (tags []string, ok bool)
}

// ExprError is a syntax error in a tag expression; it wraps ErrInvalid.
type ExprError struct {
	Pos int    // byte offset in the input where the problem is
	Msg string // what is wrong there
}

func (e *ExprError) Error() string {
	return fmt.Sprintf("%v: tag expression: at byte %d: %s", ErrInvalid, e.Pos, e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ExprError) Unwrap() error { return ErrInvalid }

type tagTerm string

type notExpr struct{ x Expr }

// andExpr and orExpr hold two or more operands; an operand of an andExpr
// is never an andExpr, nor one of an orExpr an orExpr (the parser flattens
// them), so String is canonical.
type andExpr []Expr

type orExpr []Expr

func (t tagTerm) Eval(has func(string) bool) bool { return has(string(t)) }
func (n notExpr) Eval(has func(string) bool) bool { return !n.x.Eval(has) }

func (a andExpr) Eval(has func(string) bool) bool {
	for _, x := range a {
		if !x.Eval(has) {
			return false
		}
	}
	return true
}

func (o orExpr) Eval(has func(string) bool) bool {
	for _, x := range o {
		if x.Eval(has) {
			return true
		}
	}
	return false
}

func (t tagTerm) String() string { return string(t) }

func (n notExpr) String() string {
	switch n.x.(type) {
	case andExpr, orExpr:
		return "NOT (" + n.x.String() + ")"
	}
	return "NOT " + n.x.String()
}

func (a andExpr) String() string {
	parts := make([]string, len(a))
	for i, x := range a {
		parts[i] = x.String()
		if _, ok := x.(orExpr); ok {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, " AND ")
}

func (o orExpr) String() string {
	parts := make([]string, len(o))
	for i, x := range o {
		parts[i] = x.String()
	}
	return strings.Join(parts, " OR ")
}

func (t tagTerm) required() ([]string, bool) { return []string{string(t)}, true }
func (notExpr) required() ([]string, bool)   { return nil, false }

// required of an AND is the smallest bound among its operands: a set
// satisfying the AND satisfies each of them.
func (a andExpr) required() ([]string, bool) {
	var best []string
	found := false
	for _, x := range a {
		if tags, ok := x.required(); ok && (!found || len(tags) < len(best)) {
			best, found = tags, true
		}
	}
	return best, found
}

// required of an OR is the union of its operands' bounds, if each has one.
func (o orExpr) required() ([]string, bool) {
	var all []string
	for _, x := range o {
		tags, ok := x.required()
		if !ok {
			return nil, false
		}
		all = append(all, tags...)
	}
	slices.Sort(all)
	return slices.Compact(all), true
}

// ParseExpr parses a tag expression such as "vip AND (beta OR NOT churned)".
// Operators AND, OR and NOT are case-insensitive; NOT binds tighter than
// AND, which binds tighter than OR; parentheses group. Tags are case
// sensitive and follow the rules of Tags.Add. An expression names at most
// MaxExprTags tags and nests at most MaxExprDepth deep. Errors are
// *ExprError, wrapping ErrInvalid, and give the byte position.
func ParseExpr(s string) (Expr, error) {
	p := &exprParser{src: s}
	p.next()
	e, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if p.kind != tokEOF {
		return nil, p.errf("expected AND, OR or end of expression, found %s", p.describe())
	}
	return e, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokTag
	tokAnd
	tokOr
	tokNot
	tokOpen
	tokClose
	tokBad
)

type exprParser struct {
	src  string
	pos  int // where the next token starts scanning
	kind tokKind
	text string // the current token's text
	at   int    // the current token's offset
	tags int    // tag terms read so far
}

func (p *exprParser) errf(format string, args ...any) error {
	return &ExprError{Pos: p.at, Msg: fmt.Sprintf(format, args...)}
}

func (p *exprParser) describe() string {
	switch p.kind {
	case tokEOF:
		return "end of expression"
	case tokOpen, tokClose:
		return fmt.Sprintf("%q", p.text)
	case tokBad:
		return fmt.Sprintf("character %q", p.text)
	case tokTag:
		return fmt.Sprintf("tag %q", p.text)
	}
	return strings.ToUpper(p.text)
}

// next reads the next token into kind, text and at.
func (p *exprParser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
	p.at = p.pos
	if p.pos == len(p.src) {
		p.kind, p.text = tokEOF, ""
		return
	}
	switch c := p.src[p.pos]; {
	case c == '(':
		p.kind, p.text = tokOpen, "("
		p.pos++
		return
	case c == ')':
		p.kind, p.text = tokClose, ")"
		p.pos++
		return
	case !isTagByte(c):
		// Report the whole rune, not a byte of it.
		r := []rune(p.src[p.pos:])[0]
		p.kind, p.text = tokBad, string(r)
		return
	}
	end := p.pos
	for end < len(p.src) && isTagByte(p.src[end]) {
		end++
	}
	p.text = p.src[p.pos:end]
	p.pos = end
	switch strings.ToUpper(p.text) {
	case "AND":
		p.kind = tokAnd
	case "OR":
		p.kind = tokOr
	case "NOT":
		p.kind = tokNot
	default:
		p.kind = tokTag
	}
}

func (p *exprParser) parseOr(depth int) (Expr, error) {
	x, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	terms := []Expr{x}
	for p.kind == tokOr {
		p.next()
		y, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, y)
	}
	if len(terms) == 1 {
		return x, nil
	}
	var flat orExpr
	for _, t := range terms {
		if o, ok := t.(orExpr); ok {
			flat = append(flat, o...)
		} else {
			flat = append(flat, t)
		}
	}
	return flat, nil
}

func (p *exprParser) parseAnd(depth int) (Expr, error) {
	x, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	terms := []Expr{x}
	for p.kind == tokAnd {
		p.next()
		y, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, y)
	}
	if len(terms) == 1 {
		return x, nil
	}
	var flat andExpr
	for _, t := range terms {
		if a, ok := t.(andExpr); ok {
			flat = append(flat, a...)
		} else {
			flat = append(flat, t)
		}
	}
	return flat, nil
}

func (p *exprParser) parseUnary(depth int) (Expr, error) {
	switch p.kind {
	case tokNot, tokOpen:
		if depth >= MaxExprDepth {
			return nil, p.errf("nested deeper than %d", MaxExprDepth)
		}
	}
	switch p.kind {
	case tokNot:
		p.next()
		x, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notExpr{x}, nil
	case tokOpen:
		p.next()
		x, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.kind != tokClose {
			return nil, p.errf("expected AND, OR or \")\", found %s", p.describe())
		}
		p.next()
		return x, nil
	case tokTag:
		if err := validTag(p.text); err != nil {
			return nil, p.errf("%s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		}
		if p.tags++; p.tags > MaxExprTags {
			return nil, p.errf("more than %d tags", MaxExprTags)
		}
		t := tagTerm(p.text)
		p.next()
		return t, nil
	}
	return nil, p.errf("expected a tag, NOT or \"(\", found %s", p.describe())
}

// isTagByte reports whether c may appear in a tag.
func isTagByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == ':'
}

// MaxTagLen is the longest tag, in bytes.
const MaxTagLen = 64

// validTag checks a tag's name: 1-MaxTagLen bytes of letters, digits and
// . _ - :, and not an operator word (AND, OR, NOT in any case), which an
// expression could not name.
func validTag(tag string) error {
	if tag == "" || len(tag) > MaxTagLen {
		return fmt.Errorf("%w: tag %q is not 1-%d bytes", ErrInvalid, tag, MaxTagLen)
	}
	for i := 0; i < len(tag); i++ {
		if !isTagByte(tag[i]) {
			return fmt.Errorf("%w: tag %q has a character other than letters, digits and . _ - :", ErrInvalid, tag)
		}
	}
	switch strings.ToUpper(tag) {
	case "AND", "OR", "NOT":
		return fmt.Errorf("%w: tag %q is an operator of tag expressions", ErrInvalid, tag)
	}
	return nil
}
