package httpapi

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// observed records the operations and statuses the tests' requests got,
// so that TestMain can tell which documented successes no test checked.
var observed struct {
	sync.Mutex
	m map[string]bool // "operationId status"
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
		if missing := unobserved(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "no test checked these documented successes against their schemas: %v\n", missing)
			code = 1
		}
	}
	os.Exit(code)
}

// unobserved lists the documented success responses no request got.
func unobserved() []string {
	var missing []string
	observed.Lock()
	defer observed.Unlock()
	for _, rt := range (&API{}).routes() {
		if k := rt.op + " " + strconv.Itoa(rt.status); !observed.m[k] {
			missing = append(missing, k)
		}
	}
	return missing
}

// document is the parsed OpenAPI document of an API.
type document struct {
	schemaChecker
}

func parseDocument(tb testing.TB, data []byte) *document {
	tb.Helper()
	v, err := parseJSON(data)
	if err != nil {
		tb.Fatalf("the OpenAPI document is not JSON: %v", err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		tb.Fatal("the OpenAPI document is not an object")
	}
	return &document{schemaChecker{root: root}}
}

// operation is the documented operation of a mux pattern ("GET /v1/x").
func (d *document) operation(pattern string) map[string]any {
	method, path, _ := strings.Cut(pattern, " ")
	paths, _ := d.root["paths"].(map[string]any)
	item, _ := paths[path].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	return op
}

// each calls f with every documented operation.
func (d *document) each(f func(method, path string, op map[string]any)) {
	paths, _ := d.root["paths"].(map[string]any)
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		item := paths[path].(map[string]any)
		for _, method := range slices.Sorted(maps.Keys(item)) {
			if op, ok := item[method].(map[string]any); ok {
				f(strings.ToUpper(method), path, op)
			}
		}
	}
}

// requestSchema is the JSON body schema of op, or nil.
func (d *document) requestSchema(op map[string]any) any {
	rb, ok := op["requestBody"].(map[string]any)
	if !ok {
		return nil
	}
	content, _ := rb["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	return media["schema"]
}

// checkResponse lists how a response breaks the document: a status it
// does not list for the operation, another media type, a body its schema
// refuses, a body where it says none, a missing required header.
func (d *document) checkResponse(pattern string, status int, header http.Header, body []byte) []string {
	if pattern == "/v1/" { // the catch-all of undocumented paths
		pattern = ""
		if status != http.StatusNotFound {
			return []string{fmt.Sprintf("an undocumented path answered %d, not 404", status)}
		}
		v, err := parseJSON(body)
		if err != nil || header.Get("Content-Type") != "application/problem+json" {
			return []string{"an undocumented path's 404 is not a problem"}
		}
		return d.check(map[string]any{"$ref": "#/components/schemas/Problem"}, v, "")
	}
	op := d.operation(pattern)
	if op == nil {
		return []string{"the mux serves " + pattern + ", which the document lacks"}
	}
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(status)].(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("answered %d, which the document does not list (body %s)", status, body)}
	}
	observed.Lock()
	if observed.m == nil {
		observed.m = map[string]bool{}
	}
	observed.m[fmt.Sprint(op["operationId"], " ", status)] = true
	observed.Unlock()
	resp = d.flat(resp)
	var errs []string
	if headers, ok := resp["headers"].(map[string]any); ok {
		for name, h := range headers {
			h := d.flat(h)
			if h["required"] == true && header.Get(name) == "" {
				errs = append(errs, "no "+name+" header")
			}
			if header.Get(name) != "" {
				v := any(header.Get(name))
				if n, err := strconv.Atoi(header.Get(name)); err == nil && d.flat(h["schema"])["type"] == "integer" {
					v, _ = parseJSON([]byte(strconv.Itoa(n)))
				}
				errs = append(errs, d.check(h["schema"], v, name)...)
			}
		}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(body) > 0 {
			errs = append(errs, fmt.Sprintf("a body (%s) where the document says none", body))
		}
		return errs
	}
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	media, ok := content[mt].(map[string]any)
	if !ok {
		return append(errs, fmt.Sprintf("Content-Type %q, documented %v", mt, slices.Collect(maps.Keys(content))))
	}
	v, err := parseJSON(body)
	if err != nil {
		return append(errs, fmt.Sprintf("the body is not JSON: %v", err))
	}
	return append(errs, d.check(media["schema"], v, "")...)
}

// checkResponses passes requests to api and checks every answer against
// its OpenAPI document, failing t on any mismatch: so every test's
// request is a test of the document too.
func checkResponses(t *testing.T, api *API) http.Handler {
	doc := parseDocument(t, api.doc)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, r)
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		if r.Pattern == "" { // the mux's own 404 or 405, not the API's
			return
		}
		if rec.Code == http.StatusInternalServerError {
			t.Errorf("%s %s: 500, a bug: %s", r.Method, r.URL.Path, rec.Body.Bytes())
		}
		for _, e := range doc.checkResponse(r.Pattern, rec.Code, rec.Header(), rec.Body.Bytes()) {
			t.Errorf("%s %s (%s): %s", r.Method, r.URL.Path, r.Pattern, e)
		}
	})
}

// document fetches the served document, without a key.
func (s *server) document() (*document, []byte) {
	s.t.Helper()
	resp, err := http.Get(s.url + "/v1/openapi.json")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		s.t.Fatalf("GET /v1/openapi.json without a key: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return parseDocument(s.t, data), data
}

var (
	versionRE  = regexp.MustCompile(`^3\.1\.\d+$`)
	wildcardRE = regexp.MustCompile(`\{([^}]+)\}`)
	statusRE   = regexp.MustCompile(`^[1-5]\d\d$`)
)

// The document is valid OpenAPI 3.1 in the ways a tool would first trip
// on, and says what the API promises of every operation.
func TestOpenAPIDocument(t *testing.T) {
	s := newServer(t)
	d, _ := s.document()
	root := d.root
	if v, _ := root["openapi"].(string); !versionRE.MatchString(v) {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	if root["jsonSchemaDialect"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("jsonSchemaDialect = %v", root["jsonSchemaDialect"])
	}
	info, _ := root["info"].(map[string]any)
	if s, _ := info["title"].(string); s == "" {
		t.Error("no info.title")
	}
	if s, _ := info["version"].(string); s == "" {
		t.Error("no info.version")
	}
	for k := range root {
		if !slices.Contains([]string{"openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks", "components", "security", "tags", "externalDocs"}, k) {
			t.Errorf("unknown top-level field %q", k)
		}
	}

	// Every $ref resolves, and every schema uses only the keywords the
	// checker understands.
	var walk func(v any, at string, inSchema bool)
	walk = func(v any, at string, inSchema bool) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if _, err := d.resolve(ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			for k, x := range v {
				switch {
				case inSchema && !slices.Contains(schemaKeywords, k):
					t.Errorf("%s: schema keyword %q, which the test does not check", at, k)
				case inSchema && (k == "properties" || k == "dependentRequired"):
					for name, ps := range x.(map[string]any) {
						walk(ps, at+"/"+k+"/"+name, k == "properties")
					}
				case inSchema && (k == "enum" || k == "const" || k == "examples" || k == "required"):
				default:
					walk(x, at+"/"+k, inSchema || k == "schema" || k == "items" || k == "additionalProperties" || at == "/components/schemas")
				}
			}
		case []any:
			for i, x := range v {
				walk(x, at+"/"+strconv.Itoa(i), inSchema)
			}
		}
	}
	walk(root, "", false)

	ids := map[string]bool{}
	d.each(func(method, path string, op map[string]any) {
		name := method + " " + path
		if !slices.Contains([]string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}, method) {
			t.Errorf("%s: not an HTTP method", name)
		}
		id, _ := op["operationId"].(string)
		if id == "" || ids[id] {
			t.Errorf("%s: operationId %q empty or not unique", name, id)
		}
		ids[id] = true
		// Path parameters and wildcards agree.
		var want, have []string
		for _, m := range wildcardRE.FindAllStringSubmatch(path, -1) {
			want = append(want, m[1])
		}
		idem := false
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			p := d.flat(p)
			switch {
			case p["in"] == "path":
				if p["required"] != true {
					t.Errorf("%s: path parameter %v not required", name, p["name"])
				}
				have = append(have, p["name"].(string))
			case p["in"] == "header" && p["name"] == "Idempotency-Key":
				idem = true
			}
		}
		if fmt.Sprint(want) != fmt.Sprint(have) {
			t.Errorf("%s: path parameters %v, wildcards %v", name, have, want)
		}
		if method == "POST" && !idem && id != "createToken" {
			t.Errorf("%s: a POST without Idempotency-Key", name)
		}
		// Scope: in security and x-loft-scope alike; and the auth errors.
		responses, _ := op["responses"].(map[string]any)
		if len(responses) == 0 {
			t.Errorf("%s: no responses", name)
		}
		scope, _ := op["x-loft-scope"].(string)
		if sec, _ := op["security"].([]any); scope != "" || sec != nil {
			if fmt.Sprint(sec) != fmt.Sprintf("[map[apiKey:[%s]]]", scope) {
				t.Errorf("%s: security %v, x-loft-scope %q", name, sec, scope)
			}
			for _, st := range []string{"401", "403", "429"} {
				if responses[st] == nil {
					t.Errorf("%s: behind a key, and no %s", name, st)
				}
			}
			if desc, _ := op["description"].(string); !strings.Contains(desc, "`"+scope+"`") {
				t.Errorf("%s: the description does not name the scope %q", name, scope)
			}
		}
		// Every error is the shared problem.
		for st, r := range responses {
			if !statusRE.MatchString(st) {
				t.Errorf("%s: response %q is not a status", name, st)
				continue
			}
			content, _ := d.flat(r)["content"].(map[string]any)
			if st[0] == '2' {
				continue
			}
			media, _ := content["application/problem+json"].(map[string]any)
			if len(content) != 1 || fmt.Sprint(media["schema"]) != "map[$ref:#/components/schemas/Problem]" {
				t.Errorf("%s: %s is not an application/problem+json Problem: %v", name, st, content)
			}
		}
		// A request body is an object refusing unknown properties, as
		// the handlers decode strictly.
		if rs := d.requestSchema(op); rs != nil {
			if f := d.flat(rs); f["type"] != "object" || f["additionalProperties"] != false {
				t.Errorf("%s: the request schema is not a closed object", name)
			}
		}
	})
	problem := d.flat(map[string]any{"$ref": "#/components/schemas/Problem"})
	props, _ := problem["properties"].(map[string]any)
	for _, f := range []string{"type", "title", "status", "detail", "field"} {
		if props[f] == nil {
			t.Errorf("Problem has no %q", f)
		}
	}
	if fmt.Sprint(problem["required"]) != "[type title status]" {
		t.Errorf("Problem requires %v", problem["required"])
	}
}

// pathSamples fill the wildcards of documented paths.
var pathSamples = map[string]string{"user": "bob", "device": "phone", "group": "team", "id": "1"}

func fillPath(path string) string {
	return wildcardRE.ReplaceAllStringFunc(path, func(w string) string { return pathSamples[w[1:len(w)-1]] })
}

// Every documented operation is served, behind the key it documents; no
// other method is.
func TestOpenAPIOperationsServed(t *testing.T) {
	s := newServer(t)
	d, _ := s.document()
	n := 0
	keys := map[Scope]string{ScopeSend: sendKey, ScopePush: pushKey, ScopeAdmin: adminOnlyKey}
	d.each(func(method, path string, op map[string]any) {
		n++
		url := fillPath(path)
		scope, _ := op["x-loft-scope"].(string)
		code, body, _ := s.call(method, url, "", nil)
		switch {
		case scope == "" && code != 200:
			t.Errorf("%s %s without a key: %d %v", method, url, code, body)
		case scope != "" && (code != 401 || body["type"] != "urn:loft:problem:unauthorized"):
			t.Errorf("%s %s without a key: %d %v, want 401: is it served?", method, url, code, body)
		}
		for sc, key := range keys {
			if scope == "" || string(sc) == scope {
				continue
			}
			if code, body, _ := s.call(method, url, key, nil); code != 403 || body["type"] != "urn:loft:problem:forbidden" {
				t.Errorf("%s %s with a %s key, documented scope %s: %d %v", method, url, sc, scope, code, body)
			}
		}
		// An undocumented method: the mux's 405, or under /v1/ the
		// catch-all's 404.
		req, _ := http.NewRequest("PATCH", s.url+url, nil)
		req.Header.Set("Authorization", "Bearer "+adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed && (resp.StatusCode != 404 || !strings.Contains(string(data), "is not part of the API")) {
			t.Errorf("PATCH %s: %d %s, want the mux's 405 or the catch-all's 404", url, resp.StatusCode, data)
		}
	})
	if routes := (&API{}).routes(); n != len(routes) {
		t.Errorf("%d documented operations, %d routes", n, len(routes))
	}
}

// Every request schema is the struct its handler decodes: a body of the
// required properties is accepted, each documented property is known
// and of the right type, an undocumented one is refused, and
// Idempotency-Key is honoured where it is documented.
func TestOpenAPIRequestSchemas(t *testing.T) {
	s := newServer(t)
	d, _ := s.document()
	// Values no schema can know: the vendors this server has.
	over := map[string]any{"vendor": "log"}
	n := 0
	d.each(func(method, path string, op map[string]any) {
		rs := d.requestSchema(op)
		if rs == nil {
			return
		}
		n++
		url := fillPath(path)
		name := method + " " + path
		base, err := d.sample(rs, sampling{over: over})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if errs := d.check(rs, base, ""); len(errs) > 0 {
			t.Errorf("%s: the sample %v breaks its schema: %v", name, short(base), errs)
		}
		code, body, _ := s.call(method, url, adminKey, base)
		if code == 400 || code == 422 || code >= 500 {
			t.Errorf("%s: the required properties %v were refused: %d %v", name, short(base), code, body)
		}

		// Each documented property, of a type its schema allows, is known.
		props, _ := d.flat(rs)["properties"].(map[string]any)
		for _, p := range slices.Sorted(maps.Keys(props)) {
			v, err := d.sample(props[p], sampling{full: true, over: over})
			if err != nil {
				t.Errorf("%s: /%s: %v", name, p, err)
				continue
			}
			req := maps.Clone(base.(map[string]any))
			req[p] = v
			code, body, _ := s.call(method, url, adminKey, req)
			detail, _ := body["detail"].(string)
			if code == 400 && (detail == "unknown field" || strings.HasPrefix(detail, "has the wrong type")) {
				t.Errorf("%s: the documented /%s as %s: %v", name, p, short(v), body)
			}
		}

		// Each limit a property documents is the handler's: a value at
		// its maximum is taken, one beyond a limit is refused. (The
		// document may be stricter in one way: it says to leave out an
		// optional string rather than send "".)
		for _, p := range slices.Sorted(maps.Keys(props)) {
			base, err := d.sample(rs, sampling{over: over, prefer: p})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			req, _ := d.flat(rs)["required"].([]any)
			required := slices.Contains(req, any(p))
			for _, at := range d.atMost(props[p]) {
				req := maps.Clone(base.(map[string]any))
				req[p] = at.value
				if code, body, _ := s.call(method, url, adminKey, req); code == 400 {
					t.Errorf("%s: /%s %s (%s) was refused: %d %v", name, p, at.why, short(at.value), code, body)
				}
			}
			for _, bad := range d.beyond(props[p]) {
				if bad.value == "" && !required {
					continue // an optional string's "" is taken as its absence
				}
				req := maps.Clone(base.(map[string]any))
				req[p] = bad.value
				code, body, _ := s.call(method, url, adminKey, req)
				if field, _ := body["field"].(string); code != 400 || !strings.HasPrefix(field, "/"+p) {
					t.Errorf("%s: /%s %s (%s) was not refused naming it: %d %v", name, p, bad.why, short(bad.value), code, body)
				}
			}
		}

		// An undocumented property is refused, naming it.
		req := maps.Clone(base.(map[string]any))
		req["undocumented"] = 1
		if code, body, _ := s.call(method, url, adminKey, req); code != 400 || body["field"] != "/undocumented" {
			t.Errorf("%s: an undocumented property: %d %v", name, code, body)
		}

		// Idempotency-Key: documented where a retry gets the first answer.
		idem := false
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			idem = idem || d.flat(p)["name"] == "Idempotency-Key"
		}
		key := "idem-" + op["operationId"].(string)
		var first map[string]any
		for i := range 2 {
			code, body, hdr := s.call(method, url, adminKey, base, "Idempotency-Key", key)
			replayed := hdr.Get("Idempotent-Replayed") == "true"
			switch {
			case i == 1 && idem && (!replayed || fmt.Sprint(body) != fmt.Sprint(first)):
				t.Errorf("%s: documents Idempotency-Key, and a retry got %d %v, not the first answer %v", name, code, body, first)
			case !idem && replayed:
				t.Errorf("%s: replays Idempotency-Key, which it does not document", name)
			}
			first = body
		}
	})
	if n == 0 {
		t.Fatal("no request schemas")
	}
}

// badValue is a value a schema refuses, and why.
type badValue struct {
	why   string
	value any
}

// beyond lists values just beyond the limits schema s sets: lengths,
// counts, bounds and patterns (of strings and of an array's strings).
func (d *document) beyond(s any) []badValue {
	f := d.flat(s)
	var out []badValue
	const notID = "not an id!"
	switch f["type"] {
	case "string":
		if m, ok := f["maxLength"]; ok {
			out = append(out, badValue{fmt.Sprint("over maxLength ", m), strings.Repeat("x", int(num(m))+1)})
		}
		if m := num(f["minLength"]); m > 0 {
			out = append(out, badValue{fmt.Sprint("under minLength ", m), strings.Repeat("x", int(m)-1)})
		}
		if p, ok := f["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(notID) {
			out = append(out, badValue{"against its pattern", notID})
		}
	case "array":
		item, _ := d.sample(f["items"], sampling{over: map[string]any{"vendor": "log"}})
		if m, ok := f["maxItems"]; ok {
			out = append(out, badValue{fmt.Sprint("over maxItems ", m), slices.Repeat([]any{item}, int(num(m))+1)})
		}
		if m := num(f["minItems"]); m > 0 {
			out = append(out, badValue{fmt.Sprint("under minItems ", m), slices.Repeat([]any{item}, int(m)-1)})
		}
		for _, b := range d.beyond(f["items"]) {
			if b.why == "against its pattern" {
				out = append(out, badValue{"an item " + b.why, []any{b.value}})
			}
		}
	case "integer":
		if m, ok := f["maximum"]; ok {
			out = append(out, badValue{fmt.Sprint("over maximum ", m), int64(num(m)) + 1})
		}
		if m, ok := f["minimum"]; ok {
			out = append(out, badValue{fmt.Sprint("under minimum ", m), int64(num(m)) - 1})
		}
	}
	return out
}

// atMost lists values at the maximums schema s sets: lengths, counts and
// bounds.
func (d *document) atMost(s any) []badValue {
	f := d.flat(s)
	var out []badValue
	switch f["type"] {
	case "string":
		if m, ok := f["maxLength"]; ok {
			out = append(out, badValue{fmt.Sprint("at maxLength ", m), strings.Repeat("x", int(num(m)))})
		}
	case "array":
		item, _ := d.sample(f["items"], sampling{over: map[string]any{"vendor": "log"}})
		if m, ok := f["maxItems"]; ok {
			out = append(out, badValue{fmt.Sprint("at maxItems ", m), slices.Repeat([]any{item}, int(num(m)))})
		}
	case "integer":
		if m, ok := f["maximum"]; ok {
			out = append(out, badValue{fmt.Sprint("at maximum ", m), int64(num(m))})
		}
	}
	return out
}

// The successes the other tests do not reach, checked against the
// document by checkResponses like every answer.
func TestOpenAPIResponses(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/readyz", nil, 200},
		{"POST", "/v1/users/bob/tags", map[string]any{"tags": []string{"vip"}}, 200},
		{"GET", "/v1/users/bob/tags", nil, 200},
		{"POST", "/v1/users/bob/devices/phone/tags", map[string]any{"tags": []string{"ios", "beta"}}, 200},
		{"DELETE", "/v1/users/bob/devices/phone/tags", map[string]any{"tags": []string{"beta"}}, 200},
		{"GET", "/v1/users/bob/devices/phone/tags", nil, 200},
		{"GET", "/v1/users/nobody", nil, 200},
		{"POST", "/v1/groups", map[string]any{"name": "Backend's", "members": []string{"ben"}}, 201},
		{"POST", "/v1/groups", map[string]any{"id": "team", "name": "Team", "owner": "ann"}, 201},
		{"GET", "/v1/groups/g:team", nil, 200},
	} {
		if code, body, _ := s.call(tc.method, tc.path, adminKey, tc.body); code != tc.status {
			t.Errorf("%s %s: %d %v", tc.method, tc.path, code, body)
		}
	}
	// An error replayed for its Idempotency-Key is still a problem.
	for range 2 {
		code, body, hdr := s.call("POST", "/v1/messages", sendKey, map[string]any{"to": "bob", "body": "text"}, "Idempotency-Key", "bad-1")
		if code != 400 || body["field"] != "/body" || hdr.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("a bad request, replayed: %d %v %q", code, body, hdr.Get("Content-Type"))
		}
	}
}

// Every handler is registered by mount, from the route table: no file
// calls Handle or HandleFunc on a mux but routes.go.
func TestRoutesOnlyFromTheTable(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "routes.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Handle" || sel.Sel.Name == "HandleFunc") {
				t.Errorf("%s: %s registers a handler outside the route table", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}
