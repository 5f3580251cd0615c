package campaigns

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// The JSON Schema in configs/campaigns.schema.json gives marketers
// completion and early errors in their editor. These tests keep it in step
// with the decoder: the field names are read from the decoder's source (the
// keys of the handler maps given to d.fields), so a field added to one and
// not the other fails here.

const schemaPath = "../configs/campaigns.schema.json"

// field is what the decoder reads at one place: the keys of a mapping
// (nil when the value is not a mapping read with fields) and, for a list,
// what each item is.
type field struct {
	keys  map[string]*field
	items *field
}

// decoderSource is the package's non-test source, parsed.
type decoderSource struct {
	methods map[string]*ast.FuncDecl // methods of *decoder
	consts  map[string]string        // string constants: name -> value
	depth   int
}

func parseDecoder(t *testing.T) *decoderSource {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	src := &decoderSource{methods: map[string]*ast.FuncDecl{}, consts: map[string]string{}}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if decl.Recv != nil && len(decl.Recv.List) == 1 {
					if star, ok := decl.Recv.List[0].Type.(*ast.StarExpr); ok {
						if id, ok := star.X.(*ast.Ident); ok && id.Name == "decoder" {
							src.methods[decl.Name.Name] = decl
						}
					}
				}
			case *ast.GenDecl:
				if decl.Tok != token.CONST {
					continue
				}
				for _, spec := range decl.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								src.consts[n.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				}
			}
		}
	}
	return src
}

// stringOf is the value of a string literal or a string constant.
func (src *decoderSource) stringOf(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.Ident:
		s, ok := src.consts[e.Name]
		return s, ok
	}
	return "", false
}

// decoderCall returns the method name of a call d.name(...).
func decoderCall(n ast.Node) (*ast.CallExpr, string) {
	call, ok := n.(*ast.CallExpr)
	if !ok {
		return nil, ""
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return nil, ""
	}
	if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "d" {
		return nil, ""
	}
	return call, sel.Sel.Name
}

// walk finds what the code n reads into f: d.fields calls give keys, calls
// of other decoder methods are followed, and a method called in a range
// loop reads list items.
func (src *decoderSource) walk(t *testing.T, n ast.Node, f *field) {
	src.depth++
	defer func() { src.depth-- }()
	if src.depth > 50 {
		t.Fatal("the decoder's calls nest too deep to follow")
	}
	ast.Inspect(n, func(n ast.Node) bool {
		if r, ok := n.(*ast.RangeStmt); ok {
			item := &field{}
			src.walk(t, r.Body, item)
			if item.keys != nil {
				f.items = item
			}
			return false
		}
		call, name := decoderCall(n)
		switch {
		case call == nil:
			return true
		case name == "fields":
			lit, ok := call.Args[2].(*ast.CompositeLit)
			if !ok {
				t.Fatalf("d.fields at %v: the handlers are not a map literal; teach schema_test.go", call.Pos())
			}
			src.handlers(t, lit, f)
			return false
		case name == "action":
			src.action(t, f)
			return false
		case src.methods[name] != nil:
			src.walk(t, src.methods[name].Body, f)
			return false
		}
		return true
	})
}

func (src *decoderSource) handlers(t *testing.T, lit *ast.CompositeLit, f *field) {
	if f.keys == nil {
		f.keys = map[string]*field{}
	}
	for _, elt := range lit.Elts {
		kv := elt.(*ast.KeyValueExpr)
		key, ok := src.stringOf(kv.Key)
		if !ok {
			t.Fatalf("handler key %v is not a string", kv.Key)
		}
		child := &field{}
		src.walk(t, kv.Value, child)
		f.keys[key] = child
	}
}

// action reads the decoder's action: the handlers map built for delay and
// each of actionKinds, and actionBody's switch for what each kind holds.
func (src *decoderSource) action(t *testing.T, f *field) {
	m := src.methods["action"]
	ast.Inspect(m.Body, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == 1 {
			if id, ok := as.Lhs[0].(*ast.Ident); ok && id.Name == "handlers" {
				src.handlers(t, as.Rhs[0].(*ast.CompositeLit), f)
			}
		}
		return true
	})
	body := map[string]*field{}
	ast.Inspect(src.methods["actionBody"].Body, func(n ast.Node) bool {
		cc, ok := n.(*ast.CaseClause)
		if !ok {
			return true
		}
		for _, e := range cc.List {
			kind, ok := src.stringOf(e)
			if !ok {
				t.Fatalf("actionBody case %v is not a constant", e)
			}
			k := &field{}
			for _, st := range cc.Body {
				src.walk(t, st, k)
			}
			body[kind] = k
		}
		return false
	})
	for _, kind := range actionKinds {
		if body[kind] == nil {
			t.Fatalf("actionBody has no case for %s", kind)
		}
		f.keys[kind] = body[kind]
	}
}

// decoderKinds is what the decoder reads for each kind of document, from
// the switch in document.
func decoderKinds(t *testing.T) map[string]*field {
	src := parseDecoder(t)
	out := map[string]*field{}
	ast.Inspect(src.methods["document"].Body, func(n ast.Node) bool {
		cc, ok := n.(*ast.CaseClause)
		if !ok || len(cc.List) != 1 {
			return true
		}
		kind, ok := src.stringOf(cc.List[0])
		if !ok || kind == "" {
			return true
		}
		f := &field{}
		for _, st := range cc.Body {
			src.walk(t, st, f)
		}
		if f.keys != nil {
			out[kind] = f
		}
		return false
	})
	if len(out) != 3 {
		t.Fatalf("found kinds %v in document; want CouponPool, Campaign, ReferralProgram", out)
	}
	return out
}

// paths lists every field, as Kind.a.b, lists as a[].
func (f *field) paths(prefix string, out *[]string) {
	for k, c := range f.keys {
		p := prefix + "." + k
		*out = append(*out, p)
		c.paths(p, out)
	}
	if f.items != nil {
		f.items.paths(prefix+"[]", out)
	}
}

func TestDecoderWalk(t *testing.T) {
	// The walk must find fields at every depth, or the schema test below
	// would compare nothing with nothing.
	var paths []string
	for kind, f := range decoderKinds(t) {
		f.paths(kind, &paths)
	}
	for _, want := range []string{
		"CouponPool.discount.percent",
		"Campaign.when.near.within_km",
		"Campaign.limits.quiet_hours",
		"Campaign.do[].delay",
		"Campaign.do[].send_template.data",
		"Campaign.do[].send_custom.miniprogram.thumb_media_id",
		"Campaign.do[].send_custom.fallback.template_id",
		"Campaign.do[].untag.name",
		"ReferralProgram.referrer_reward.notify.query",
		"ReferralProgram.limits.per_referrer_per_day",
	} {
		if !slices.Contains(paths, want) {
			t.Errorf("the walk of the decoder did not find %s", want)
		}
	}
}

// schema is a JSON Schema node.
type schema = map[string]any

func loadSchemaJSON(t *testing.T) schema {
	t.Helper()
	b, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	return s
}

type schemaDoc struct{ root schema }

func (d schemaDoc) resolve(s schema) schema {
	for range 10 {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name, ok := strings.CutPrefix(ref, "#/definitions/")
		if !ok {
			panic("unexpected $ref " + ref)
		}
		s = d.root["definitions"].(map[string]any)[name].(map[string]any)
	}
	panic("$ref loop")
}

// variants is s and every subschema that applies with it (allOf, anyOf,
// oneOf, then, else), resolved.
func (d schemaDoc) variants(s schema) []schema {
	s = d.resolve(s)
	out := []schema{s}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := s[k].([]any)
		for _, sub := range list {
			out = append(out, d.variants(sub.(map[string]any))...)
		}
	}
	for _, k := range []string{"then", "else"} {
		if sub, ok := s[k].(map[string]any); ok {
			out = append(out, d.variants(sub)...)
		}
	}
	return out
}

// props is every property named by s or its variants, with each one's
// schemas.
func (d schemaDoc) props(s schema) map[string][]schema {
	out := map[string][]schema{}
	for _, v := range d.variants(s) {
		ps, _ := v["properties"].(map[string]any)
		for k, p := range ps {
			out[k] = append(out[k], p.(map[string]any))
		}
	}
	return out
}

func (d schemaDoc) compare(t *testing.T, path string, f *field, ss []schema) {
	t.Helper()
	props := map[string][]schema{}
	var items []schema
	for _, s := range ss {
		for k, v := range d.props(s) {
			props[k] = append(props[k], v...)
		}
		for _, v := range d.variants(s) {
			if it, ok := v["items"].(map[string]any); ok {
				items = append(items, it)
			}
		}
		if f.keys != nil {
			for _, v := range d.variants(s) {
				if v["type"] == "object" && v["additionalProperties"] != false {
					t.Errorf("schema %s: an object without additionalProperties: false (the decoder refuses unknown keys)", path)
				}
			}
		}
	}
	for k, c := range f.keys {
		if props[k] == nil {
			t.Errorf("schema: %s.%s is read by the decoder but missing from the schema", path, k)
			continue
		}
		d.compare(t, path+"."+k, c, props[k])
	}
	for k := range props {
		if f.keys[k] == nil {
			t.Errorf("schema: %s.%s is in the schema but the decoder does not read it", path, k)
		}
	}
	switch {
	case f.items != nil && items == nil:
		t.Errorf("schema: %s is a list of mappings for the decoder, the schema has no items", path)
	case f.items != nil:
		d.compare(t, path+"[]", f.items, items)
	}
}

// TestSchemaFieldsInStep: every field the decoder reads is in the schema at
// the same place, and the schema has no field the decoder would refuse.
func TestSchemaFieldsInStep(t *testing.T) {
	doc := schemaDoc{loadSchemaJSON(t)}
	kinds := decoderKinds(t)
	thenOf := map[string]schema{}
	for _, b := range doc.root["allOf"].([]any) {
		b := b.(map[string]any)
		k := b["if"].(map[string]any)["properties"].(map[string]any)["kind"].(map[string]any)["const"].(string)
		thenOf[k] = b["then"].(map[string]any)
	}
	for kind, f := range kinds {
		if thenOf[kind] == nil {
			t.Errorf("schema: no if/then branch for kind %s", kind)
			continue
		}
		doc.compare(t, kind, f, []schema{thenOf[kind]})
	}
	var enum []string
	for _, k := range doc.root["properties"].(map[string]any)["kind"].(map[string]any)["enum"].([]any) {
		enum = append(enum, k.(string))
		if kinds[k.(string)] == nil {
			t.Errorf("schema: kind %s is not a kind the decoder reads", k)
		}
	}
	if len(enum) != len(kinds) {
		t.Errorf("schema kinds %v, decoder kinds %d", enum, len(kinds))
	}
}

func defs(t *testing.T) map[string]any {
	return loadSchemaJSON(t)["definitions"].(map[string]any)
}

// prop follows path through nested schema objects.
func prop(t *testing.T, s any, path ...string) map[string]any {
	t.Helper()
	m, ok := s.(map[string]any)
	for i, p := range path {
		if !ok {
			break
		}
		m, ok = m[p].(map[string]any)
		if !ok {
			t.Fatalf("schema: no object at %s", strings.Join(path[:i+1], "."))
		}
	}
	if !ok {
		t.Fatalf("schema: %v is not an object", s)
	}
	return m
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	sort.Strings(out)
	return out
}

// TestSchemaEnumsInStep compares the schema's enums with the decoder's
// lists: events and the fields each takes, match modes, action kinds.
func TestSchemaEnumsInStep(t *testing.T) {
	d := defs(t)
	src := parseDecoder(t)
	// The decoder's table of which on: fields each event takes.
	allowed := map[string][]string{}
	ast.Inspect(src.methods["trigger"].Body, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != 1 {
			return true
		}
		if id, ok := as.Lhs[0].(*ast.Ident); !ok || id.Name != "allowed" {
			return true
		}
		for _, elt := range as.Rhs[0].(*ast.CompositeLit).Elts {
			kv := elt.(*ast.KeyValueExpr)
			ev, _ := src.stringOf(kv.Key)
			for _, f := range kv.Value.(*ast.CompositeLit).Elts {
				s, _ := src.stringOf(f)
				allowed[ev] = append(allowed[ev], s)
			}
		}
		return false
	})
	if len(allowed) != 7 {
		t.Fatalf("found the allowed table for %d events, want 7", len(allowed))
	}
	trigger := prop(t, d, "trigger")
	events := strs(prop(t, trigger, "properties", "event")["enum"])
	var want []string
	for ev := range allowed {
		want = append(want, ev)
	}
	sort.Strings(want)
	if !slices.Equal(events, want) {
		t.Errorf("schema events %v, decoder events %v", events, want)
	}
	seen := map[string]bool{}
	for _, b := range trigger["allOf"].([]any) {
		ev := prop(t, b, "if", "properties", "event")["const"].(string)
		seen[ev] = true
		got := strs(prop(t, b, "then", "propertyNames")["enum"])
		want := append([]string{"event"}, allowed[ev]...)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("schema: event %s takes %v, the decoder %v", ev, got, want)
		}
	}
	if len(seen) != len(allowed) {
		t.Errorf("schema has if/then for %d events, want %d", len(seen), len(allowed))
	}

	var modes []string
	for m := range matchModes {
		modes = append(modes, m)
	}
	sort.Strings(modes)
	if got := strs(prop(t, trigger, "properties", "match")["enum"]); !slices.Equal(got, modes) {
		t.Errorf("schema match %v, decoder %v", got, modes)
	}

	action := prop(t, d, "action")
	var kinds []string
	for _, b := range action["oneOf"].([]any) {
		kinds = append(kinds, strs(prop(t, b)["required"])...)
	}
	if got, want := kinds, actionKinds; !slices.Equal(got, want) {
		t.Errorf("schema action kinds %v, decoder %v", got, want)
	}
}

// TestSchemaPatternsInStep checks the schema's patterns accept what the
// decoder accepts, on values a marketer might write.
func TestSchemaPatternsInStep(t *testing.T) {
	d := defs(t)
	pattern := func(s map[string]any) *regexp.Regexp {
		return regexp.MustCompile(s["pattern"].(string))
	}
	duration := pattern(prop(t, d, "limits", "properties", "cooldown"))
	rate := pattern(prop(t, d, "limits", "properties", "rate"))
	quietRe := pattern(prop(t, d, "limits", "properties", "quiet_hours"))
	id := pattern(prop(t, d, "id"))
	ts := pattern(prop(t, d, "window", "properties", "start"))
	page := pattern(prop(t, d, "templateSend", "properties", "page"))
	cron := pattern(prop(t, d, "trigger", "properties", "cron"))

	tests := []struct {
		name    string
		re      *regexp.Regexp
		decoder func(string) bool
		values  []string
	}{
		{"duration", duration, func(s string) bool { v, err := parseDuration(s); return err == nil && v > 0 },
			[]string{"90s", "720h", "30d", "1h30m", "1.5h", ".5h", "300ms", "2us", "+5m", "1d12h", "30 days", "d", "3600", "-1h", "1w", "5S", "1y"}},
		{"rate", rate, func(s string) bool { _, err := parseRate(s); return err == nil },
			[]string{"100/s", "5/m", "5/min", "1000/h", " 5 / min ", "0/s", "-1/s", "100", "100/d", "x/s", "100/sec", "10/s/s"}},
		{"quiet_hours", quietRe, func(s string) bool {
			_, err := parseQuiet(s)
			return err == nil || strings.Contains(err.Error(), "the same")
		},
			[]string{"22:00-08:00", "8:30-9:45", " 22:00 - 08:00 ", "00:00-23:59", "22:00", "22:00-24:00", "22-08", "22:00 to 08:00", "22:0-08:00", "22:60-08:00"}},
		{"id", id, validID,
			[]string{"welcome", "welcome-10", "a.b_c", "A1", strings.Repeat("x", 64), strings.Repeat("x", 65), "", "has space", "中文", "a/b"}},
		{"timestamp", ts, func(s string) bool { _, err := time.Parse(time.RFC3339, s); return err == nil },
			[]string{"2026-12-01T00:00:00+08:00", "2026-12-01T00:00:00Z", "2026-12-01T00:00:00.5Z", "2026-12-01", "2026-12-01 00:00:00+08:00", "2026-12-01T00:00:00", "2026-12-01T00:00+08:00"}},
		{"page", page, func(s string) bool {
			var p string
			ps := Problems{}
			(&decoder{problems: &ps}).page(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}, "page", &p)
			return len(ps) == 0 && s != ""
		}, []string{"pages/index/index", "pages/a", "/pages/a", "pages/a?x=1", "pages/a#top", ""}},
		{"cron", cron, func(s string) bool { return len(strings.Fields(s)) == 5 },
			[]string{"0 9 * * 1", "*/5 * * * *", "0 9 * * * *", "0 9 * *", "@daily"}},
	}
	for _, tt := range tests {
		for _, v := range tt.values {
			if got, want := tt.re.MatchString(v), tt.decoder(v); got != want {
				t.Errorf("%s %q: schema accepts it %v, decoder %v", tt.name, v, got, want)
			}
		}
	}
}

// yamlDocs reads every document of the YAML files under paths.
func yamlDocs(t *testing.T, paths ...string) map[string]any {
	t.Helper()
	files, err := ReadPaths(paths...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, f := range files {
		dec := yaml.NewDecoder(bytes.NewReader(f.Data))
		for i := 0; ; i++ {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			out[f.Name+"#"+strconv.Itoa(i)] = toJSON(t, &n)
		}
	}
	return out
}

// toJSON turns a YAML node into the JSON value an editor's YAML 1.2
// language server checks against the schema.
func toJSON(t *testing.T, n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return toJSON(t, n.Content[0])
	case yaml.AliasNode:
		return toJSON(t, n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = toJSON(t, n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, toJSON(t, c))
		}
		v = l
	default:
		switch n.Tag {
		case "!!int", "!!float", "!!bool", "!!null":
			if err := n.Decode(&v); err != nil {
				t.Fatal(err)
			}
		default:
			v = n.Value
		}
	}
	// Through JSON, so numbers are what the validator expects.
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("campaigns.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("campaigns.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// TestSchemaAcceptsValidFiles validates the shipped examples, the DESIGN.md
// example and the valid test set against the schema.
func TestSchemaAcceptsValidFiles(t *testing.T) {
	s := compileSchema(t)
	docs := yamlDocs(t, "../configs/campaigns", "testdata/design", "testdata/valid")
	if len(docs) < 10 {
		t.Fatalf("only %d documents", len(docs))
	}
	for name, doc := range docs {
		if err := s.Validate(doc); err != nil {
			t.Errorf("%s does not validate against the schema:\n%v", name, err)
		}
	}
}

// TestSchemaRefuses: mistakes the schema can see are refused by it, as by
// the decoder.
func TestSchemaRefuses(t *testing.T) {
	s := compileSchema(t)
	const pool = "kind: CouponPool\nid: p\ntitle: t\nstock: 1\n"
	const camp = "kind: Campaign\nid: c\n"
	tests := []struct{ name, yaml string }{
		{"no kind", "id: x\n"},
		{"unknown kind", "kind: Coupon\nid: x\n"},
		{"unknown key", pool + "discount: {percent: 5}\nvalid_for: 1h\nstok: 1\n"},
		{"amount and percent", pool + "discount: {amount_fen: 100, percent: 5}\nvalid_for: 1h\n"},
		{"no discount", pool + "discount: {min_spend_fen: 100}\nvalid_for: 1h\n"},
		{"valid_for and valid_until", pool + "discount: {percent: 5}\nvalid_for: 1h\nvalid_until: 2027-01-01T00:00:00Z\n"},
		{"no validity", pool + "discount: {percent: 5}\n"},
		{"bad duration", pool + "discount: {percent: 5}\nvalid_for: 30 days\n"},
		{"quoted number", pool + "discount: {percent: \"5\"}\nvalid_for: 1h\n"},
		{"percent 100", pool + "discount: {percent: 100}\nvalid_for: 1h\n"},
		{"no do", camp + "on: {event: subscribe}\n"},
		{"empty do", camp + "on: {event: subscribe}\ndo: []\n"},
		{"unknown event", camp + "on: {event: unfollow}\ndo: [{tag: x}]\n"},
		{"field of another event", camp + "on: {event: keyword, text: hi, scene: x}\ndo: [{tag: x}]\n"},
		{"keyword without text", camp + "on: {event: keyword}\ndo: [{tag: x}]\n"},
		{"scene and prefix", camp + "on: {event: subscribe, scene: a, scene_prefix: b}\ndo: [{tag: x}]\n"},
		{"schedule cron and at", camp + "on: {event: schedule, cron: \"0 9 * * *\", at: 2027-01-01T00:00:00Z}\ndo: [{tag: x}]\n"},
		{"bad match", camp + "on: {event: keyword, text: hi, match: fuzzy}\ndo: [{tag: x}]\n"},
		{"two actions in one item", camp + "on: {event: subscribe}\ndo: [{tag: x, untag: y}]\n"},
		{"no action in an item", camp + "on: {event: subscribe}\ndo: [{delay: 5s}]\n"},
		{"delay on reply", camp + "on: {event: subscribe}\ndo: [{reply: {text: hi}, delay: 5s}]\n"},
		{"no template_id", camp + "on: {event: subscribe}\ndo: [{send_template: {page: pages/a}}]\n"},
		{"page with a slash", camp + "on: {event: subscribe}\ndo: [{send_template: {template_id: T, page: /pages/a}}]\n"},
		{"custom text and card", camp + "on: {event: subscribe}\ndo: [{send_custom: {text: hi, miniprogram: {title: t, page: p, thumb_media_id: m}}}]\n"},
		{"bad rate", camp + "on: {event: subscribe}\nlimits: {rate: 100/day}\ndo: [{tag: x}]\n"},
		{"bad quiet hours", camp + "on: {event: subscribe}\nlimits: {quiet_hours: \"22:00 to 08:00\"}\ndo: [{tag: x}]\n"},
		{"date without time", camp + "window: {end: 2027-01-31}\non: {event: subscribe}\ndo: [{tag: x}]\n"},
		{"title true", camp + "title: true\non: {event: subscribe}\ndo: [{tag: x}]\n"},
		{"do and split", camp + "on: {event: subscribe}\ndo: [{tag: x}]\nsplit: {variants: [{name: a, weight: 1, do: [{tag: x}]}, {name: b, weight: 1, do: [{tag: y}]}], winner: {metric: opened, min_sample: 1}}\n"},
		{"split with one variant", camp + "on: {event: subscribe}\nsplit: {variants: [{name: a, weight: 1, do: [{tag: x}]}], winner: {metric: opened, min_sample: 1}}\n"},
		{"split weight 0", camp + "on: {event: subscribe}\nsplit: {variants: [{name: a, weight: 0, do: [{tag: x}]}, {name: b, weight: 1, do: [{tag: y}]}], winner: {metric: opened, min_sample: 1}}\n"},
		{"split unknown metric", camp + "on: {event: subscribe}\nsplit: {variants: [{name: a, weight: 1, do: [{tag: x}]}, {name: b, weight: 1, do: [{tag: y}]}], winner: {metric: clicks, min_sample: 1}}\n"},
		{"split confidence 1", camp + "on: {event: subscribe}\nsplit: {variants: [{name: a, weight: 1, do: [{tag: x}]}, {name: b, weight: 1, do: [{tag: y}]}], winner: {metric: opened, min_sample: 1, confidence: 1}}\n"},
		{"bad qualify_on", "kind: ReferralProgram\nid: r\nqualify_on: follow\nreferrer_reward: {pool: p}\n"},
		{"referral without referrer_reward", "kind: ReferralProgram\nid: r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(tt.yaml), &n); err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(toJSON(t, &n)); err == nil {
				t.Errorf("the schema accepts:\n%s", tt.yaml)
			}
			if _, err := Load([]File{{"x.yaml", []byte(tt.yaml)}}); err == nil {
				t.Errorf("the decoder accepts:\n%s", tt.yaml)
			}
		})
	}
}

// TestValidSetUsesEveryField: testdata/valid uses every field the decoder
// reads, so TestSchemaAcceptsValidFiles checks the schema for all of them.
func TestValidSetUsesEveryField(t *testing.T) {
	kinds := decoderKinds(t)
	used := map[string]bool{}
	var mark func(path string, f *field, v any)
	mark = func(path string, f *field, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if f.keys[k] != nil {
					used[path+"."+k] = true
					mark(path+"."+k, f.keys[k], c)
				}
			}
		case []any:
			if f.items != nil {
				for _, it := range v {
					mark(path+"[]", f.items, it)
				}
			}
		}
	}
	for _, doc := range yamlDocs(t, "testdata/valid") {
		kind := doc.(map[string]any)["kind"].(string)
		mark(kind, kinds[kind], doc)
	}
	var all []string
	for kind, f := range kinds {
		f.paths(kind, &all)
	}
	sort.Strings(all)
	for _, p := range all {
		// A variant's do: is read by the very decoder of a campaign's do:
		// (d.actions), and the schema gives both the one action
		// definition: Campaign.do[] stands for it.
		if strings.HasPrefix(p, "Campaign.split.variants[].do[].") {
			continue
		}
		if !used[p] {
			t.Errorf("testdata/valid never uses %s", p)
		}
	}
}

// TestExamplesNameTheSchema: the shipped examples point the editor at the
// schema.
func TestExamplesNameTheSchema(t *testing.T) {
	names, err := filepath.Glob("../configs/campaigns/*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	const want = "# yaml-language-server: $schema=../campaigns.schema.json\n"
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(want)) {
			t.Errorf("%s: first line is not %q", name, strings.TrimSpace(want))
		}
	}
}
