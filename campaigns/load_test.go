package campaigns

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from what the code gives")

func loadPaths(t *testing.T, paths ...string) (*Set, error) {
	t.Helper()
	files, err := ReadPaths(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return Load(files)
}

// TestBrokenGolden loads a set with many mistakes spread over several files
// and compares every problem, one a line, with testdata/broken.golden.
// Run `go test ./campaigns -run BrokenGolden -update` after a deliberate
// change of wording, and read the diff.
func TestBrokenGolden(t *testing.T) {
	set, err := loadPaths(t, "testdata/broken")
	if set != nil {
		t.Fatal("Load returned a set for a broken set of files")
	}
	ps, ok := err.(Problems)
	if !ok {
		t.Fatalf("Load error is %T (%v), want Problems", err, err)
	}
	got := ps.Error() + "\n"
	golden := filepath.Join("testdata", "broken.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("problems differ from %s (-want +got):\n%s", golden, diff)
	}
	for _, p := range ps {
		if filepath.IsAbs(p.File) || !strings.HasPrefix(filepath.ToSlash(p.File), "testdata/broken/") {
			t.Errorf("problem file %q: want a path relative to the package", p.File)
		}
		if p.Line < 1 {
			t.Errorf("%s: no line number", p)
		}
	}
}

// TestBrokenLines checks that problems point at the line where the field
// is written, for the mistakes where the line is easy to get wrong.
func TestBrokenLines(t *testing.T) {
	_, err := loadPaths(t, "testdata/broken")
	ps, _ := err.(Problems)
	lines := map[string][]string{}
	for _, p := range ps {
		if lines[p.File] == nil {
			b, err := os.ReadFile(p.File)
			if err != nil {
				t.Fatal(err)
			}
			lines[p.File] = strings.Split(string(b), "\n")
		}
	}
	// field (as reported) -> text that must be on the reported line.
	tests := []struct {
		file, field, why, onLine string
	}{
		{"campaigns.yaml", "titel", "unknown field", "titel:"},
		{"campaigns.yaml", "do[0].issue_coupon.pool", "no-such-pool", "pool: no-such-pool"},
		{"campaigns.yaml", "do[1].delay", "applies to sends", "delay: 5s"},
		{"campaigns.yaml", "do[1].send_template.data.thing1", "characters", "thing1:"},
		{"campaigns.yaml", "do[1].send_template.data.thing3", "characters", "thing3:"},
		{"campaigns.yaml", "do[1].send_template.data.thing5", "OpenId", "thing5:"},
		{"campaigns.yaml", "window.end", "not after", "window:"},
		{"campaigns.yaml", "id", `"unknown-keys" is already defined at testdata/broken/campaigns.yaml:2`, "id: unknown-keys"},
		{"campaigns.yaml", "on.event", "unfollow", "event: unfollow"},
		{"campaigns.yaml", "on.scene", "qrscene_", "qrscene_store"},
		{"kinds.yaml", "id", `"bad-regex" is already defined at testdata/broken/campaigns.yaml:68`, "id: bad-regex"},
		{"kinds.yaml", "kind", "Coupon", "kind: Coupon"},
		{"pools.yaml", "discount.min_spend_fen", "below", "min_spend_fen: 500"},
		{"pools.yaml", "valid_until", "not both", "valid_until:"},
		{"pools.yaml", "id", `"shared-5" is already defined`, "id: shared-5"},
		{"referral.yaml", "referrer_reward.pool", "invite-20", "pool: invite-20"},
		{"referral.yaml", "id", `"invite" is already defined at testdata/broken/referral.yaml:1`, "id: invite"},
		{"syntax.yaml", "id", `"typo" is already defined at testdata/broken/pools.yaml:10`, "id: typo"},
		{"syntax.yaml", "", "YAML syntax", "on: {event: subscribe"},
	}
	for _, tt := range tests {
		t.Run(tt.file+":"+tt.field, func(t *testing.T) {
			var found *Problem
			for i, p := range ps {
				if filepath.Base(p.File) == tt.file && p.Field == tt.field && strings.Contains(p.Why, tt.why) {
					found = &ps[i]
				}
			}
			if found == nil {
				t.Fatalf("no problem %s: %s: ...%s...", tt.file, tt.field, tt.why)
			}
			got := lines[found.File][found.Line-1]
			if !strings.Contains(got, tt.onLine) {
				t.Errorf("%s points at line %d %q, want the line with %q", found, found.Line, got, tt.onLine)
			}
		})
	}
}

// TestProblemsDeterministic loads the broken set many times: map order
// must never change the output (it would make the golden file flaky).
func TestProblemsDeterministic(t *testing.T) {
	_, err := loadPaths(t, "testdata/broken")
	first := err.Error()
	for range 20 {
		_, err := loadPaths(t, "testdata/broken")
		if err.Error() != first {
			t.Fatalf("Load gave different problems on a second run:\n%s", cmp.Diff(first, err.Error()))
		}
	}
}

func TestLoadValidAcrossFiles(t *testing.T) {
	set, err := loadPaths(t, "testdata/valid")
	if err != nil {
		t.Fatalf("Load(testdata/valid): %v", err)
	}
	var ids []string
	for _, c := range set.Campaigns {
		ids = append(ids, c.ID)
	}
	wantIDs := []string{"welcome", "store-scan", "keyword-regex", "menu", "nearest-store", "weekly", "launch", "launch-article", "expiring", "welcome-split"}
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("campaign ids (-want +got):\n%s", diff)
	}
	if len(set.Pools) != 3 || len(set.Referrals) != 1 {
		t.Errorf("got %d pools and %d referral programs, want 3 and 1", len(set.Pools), len(set.Referrals))
	}

	w := set.Campaign("welcome")
	shanghai := time.FixedZone("+08:00", 8*3600)
	if want := time.Date(2027, 1, 31, 23, 59, 59, 0, shanghai); !w.End.Equal(want) {
		t.Errorf("welcome end = %v, want %v", w.End, want)
	}
	wantLimits := Limits{PerFollower: 1, Cooldown: 24 * time.Hour, Budget: 5000, Rate: Rate{100, time.Second},
		Quiet: &QuietHours{From: 22 * time.Hour, To: 8 * time.Hour}}
	if diff := cmp.Diff(wantLimits, w.Limits); diff != "" {
		t.Errorf("welcome limits (-want +got):\n%s", diff)
	}
	if got := []string{w.Do[3].TagName, w.Do[4].TagName}; got[0] != "welcomed" || got[1] != "prospect" {
		t.Errorf("tag names = %q, want welcomed, prospect", got)
	}
	if got := w.Do[2].Send.QueryKeys(); !cmp.Equal(got, []string{"code", "store"}) {
		t.Errorf("query keys = %q, want file order code, store", got)
	}
	if got := set.Campaign("menu").Do[0].Delay; got != 30*24*time.Hour {
		t.Errorf("delay 30d = %v, want 720h", got)
	}
	if got := set.Campaign("menu").Location.String(); got != "America/New_York" {
		t.Errorf("menu timezone = %s", got)
	}
	if got := set.Campaign("store-scan").Location.String(); got != DefaultTimeZone {
		t.Errorf("default timezone = %s, want %s", got, DefaultTimeZone)
	}
	if got := set.Campaign("nearest-store").On; got.WithinKM != 8 || got.Nearest != 3 {
		t.Errorf("location trigger = %+v", got)
	}
	if got := set.Campaign("keyword-regex").Limits.Rate; got != (Rate{10, time.Minute}) {
		t.Errorf("rate 10/min = %+v", got)
	}
	r := set.Referrals[0]
	if r.QualifyOn != "first_redeem" || r.Every != 3 || r.Max != 10 || r.PerReferrerDay != 20 || r.Referrer.Pool != "invite-20" || r.Invitee.Pool != "welcome-10" {
		t.Errorf("referral program = %+v", r)
	}
	p := set.Pools["welcome-10"]
	if p.AmountFen != 1000 || p.MinSpendFen != 5000 || p.PerFollower != 1 || p.ValidFor != 720*time.Hour {
		t.Errorf("pool welcome-10 = %+v", p)
	}
	issued := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if got := p.ExpiresAt(issued); !got.Equal(issued.Add(720 * time.Hour)) {
		t.Errorf("ExpiresAt with valid_for = %v", got)
	}
	p15 := set.Pools["percent-15"]
	if got := p15.ExpiresAt(issued); !got.Equal(p15.ValidUntil) || p15.Percent != 15 {
		t.Errorf("percent-15 = %+v, ExpiresAt %v", p15, got)
	}
}

// TestLoadOneFileOfTwo shows the set is checked as a whole: the campaigns
// alone name pools that are not there.
func TestLoadOneFileOfTwo(t *testing.T) {
	_, err := loadPaths(t, "testdata/valid/a-campaigns.yaml")
	if err == nil || !strings.Contains(err.Error(), `issue_coupon.pool: no CouponPool "welcome-10" in this set`) {
		t.Errorf("Load(campaigns without pools) = %v, want unknown pool welcome-10", err)
	}
	if _, err := loadPaths(t, "testdata/valid/b-pools.yaml", "testdata/valid/a-campaigns.yaml"); err != nil {
		t.Errorf("Load(pools file first) = %v", err)
	}
}

func TestLoadDesignExample(t *testing.T) {
	set, err := loadPaths(t, "testdata/design")
	if err != nil {
		t.Fatalf("the DESIGN.md §5 example does not load:\n%v", err)
	}
	if len(set.Pools) != 2 || len(set.Campaigns) != 1 || len(set.Referrals) != 1 {
		t.Errorf("got %d pools, %d campaigns, %d referral programs; want 2, 1, 1", len(set.Pools), len(set.Campaigns), len(set.Referrals))
	}
}

func TestLoadShippedExamples(t *testing.T) {
	set, err := loadPaths(t, filepath.Join("..", "configs", "campaigns"))
	if err != nil {
		t.Fatalf("configs/campaigns does not load:\n%v", err)
	}
	if len(set.Campaigns) == 0 {
		t.Error("configs/campaigns has no campaigns")
	}
}

func TestLoadEmpty(t *testing.T) {
	set, err := Load(nil)
	if err != nil || len(set.Campaigns) != 0 {
		t.Errorf("Load(nil) = %v, %v; want an empty set", set, err)
	}
	set, err = Load([]File{{Name: "empty.yaml", Data: []byte("# nothing yet\n---\n")}})
	if err != nil || len(set.Campaigns) != 0 {
		t.Errorf("Load(only comments) = %v, %v; want an empty set", set, err)
	}
}

func TestHash(t *testing.T) {
	a := []File{{"a.yaml", []byte("kind: Campaign\nid: a\non: {event: subscribe}\ndo: [{tag: x}]\n")}}
	b := []File{{"a.yaml", []byte("kind: Campaign\nid: a\non: {event: subscribe}\ndo: [{tag: y}]\n")}}
	s1, err1 := Load(a)
	s2, err2 := Load(a)
	s3, err3 := Load(b)
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	if s1.Hash != s2.Hash || s1.Hash == s3.Hash {
		t.Errorf("hashes %s %s %s: want equal for equal files, different otherwise", s1.Hash, s2.Hash, s3.Hash)
	}
}

func TestReadPathsMissing(t *testing.T) {
	if _, err := ReadPaths("testdata/no-such-dir"); err == nil {
		t.Error("ReadPaths(missing) = nil error")
	}
}

// TestDecodeOne covers single mistakes whose message matters, one document
// each, so a failure names the case.
func TestDecodeOne(t *testing.T) {
	const head = "kind: Campaign\nid: c\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"ok", head + "on: {event: subscribe}\ndo: [{tag: x}]\n", ""},
		{"quoted number", "kind: CouponPool\nid: p\ntitle: t\ndiscount: {percent: \"15\"}\nstock: 1\nvalid_for: 1h\n",
			`x.yaml:4: discount.percent: want a whole number, got the text "15" (unquote it)`},
		{"underscores in numbers", "kind: CouponPool\nid: p\ntitle: t\ndiscount: {amount_fen: 1_000}\nstock: 10_000\nvalid_for: 1h\n", ""},
		{"key given twice", head + "on: {event: subscribe}\non: {event: scan}\ndo: [{tag: x}]\n", "x.yaml:4: on: given twice"},
		{"data key twice", head + "on: {event: subscribe}\ndo:\n  - send_template:\n      template_id: T\n      page: p\n      data: {a: x, a: y}\n",
			"x.yaml:8: do[0].send_template.data.a: given twice"},
		{"local timezone", head + "timezone: Local\non: {event: subscribe}\ndo: [{tag: x}]\n", `x.yaml:3: timezone: "Local" is not a time zone such as Asia/Shanghai`},
		{"rate wrong type", head + "on: {event: subscribe}\nlimits: {rate: [1]}\ndo: [{tag: x}]\n", "x.yaml:4: limits.rate: want a value, got a list"},
		{"rate per minute", head + "on: {event: subscribe}\nlimits: {rate: 5/m}\ndo: [{tag: x}]\n", ""},
		{"keyword text empty", head + "on: {event: keyword, text: \"\"}\ndo: [{tag: x}]\n", "x.yaml:3: on.text: is empty"},
		{"keyword default exact", head + "on: {event: keyword, text: hi}\ndo: [{tag: x}]\n", ""},
		{"menu key empty", head + "on: {event: menu_click, key: \"\"}\ndo: [{tag: x}]\n", "x.yaml:3: on.key: is empty"},
		{"location zero km", head + "on: {event: location, within_km: 0}\ndo: [{tag: x}]\n", "x.yaml:3: on.within_km: must be between 0.01 and 20000, got 0"},
		{"schedule both", head + "on: {event: schedule, cron: \"0 9 * * *\", at: 2027-01-01T09:00:00+08:00}\ndo: [{tag: x}]\n", "x.yaml:3: on: schedule takes cron or at (one of them)"},
		{"scene_prefix qrscene", head + "on: {event: subscribe, scene_prefix: \"qrscene_store:\"}\ndo: [{tag: x}]\n",
			`x.yaml:3: on.scene_prefix: write the scene without qrscene_ (omo strips it): "store:"`},
		{"page leading slash", head + "on: {event: subscribe}\ndo: [{send_template: {template_id: T, page: /pages/a}}]\n",
			`x.yaml:4: do[0].send_template.page: "/pages/a": write the page without a leading / (pages/index/index)`},
		{"custom text bad template", head + "on: {event: subscribe}\ndo: [{send_custom: {text: \"{{.Nope}}\"}}]\n",
			"x.yaml:4: do[0].send_custom.text: .Nope: there is no field Nope (the fields are .Follower, .Campaign, .Coupon, .Store and .Referral)"},
		{"store in location", head + "on: {event: location, within_km: 3}\ndo: [{reply: {text: \"{{.Store.Name}}\"}}]\n", ""},
		{"static field of 20 Chinese characters", head + "on: {event: subscribe}\ndo: [{send_template: {template_id: T, page: p, data: {thing1: 一二三四五六七八九十一二三四五六七八九十}}}]\n", ""},
		{"static field of 21 Chinese characters", head + "on: {event: subscribe}\ndo: [{send_template: {template_id: T, page: p, data: {thing1: 一二三四五六七八九十一二三四五六七八九十一}}}]\n",
			"x.yaml:4: do[0].send_template.data.thing1: 21 characters: WeChat cuts template fields at 20"},
		{"subscribe static thing field refused", head + "on: {event: subscribe}\ndo: [{send_subscribe: {template_id: T, page: p, data: {thing1: a text that is longer than twenty}}}]\n",
			"x.yaml:4: do[0].send_subscribe.data.thing1: 33 characters: WeChat refuses subscribe notification thing fields over 20 (47003)"},
		{"subscribe other field long", head + "on: {event: subscribe}\ndo: [{send_subscribe: {template_id: T, page: p, data: {character_string1: a text that is longer than twenty}}}]\n", ""},
		{"reserved query key", head + "on: {event: subscribe}\ndo: [{send_template: {template_id: T, page: p, query: {omo_c: x}}}]\n",
			"x.yaml:4: do[0].send_template.query.omo_c: is reserved: omo adds omo_c (campaign) and omo_m (message) to every deep link"},
		{"window start only", head + "window: {start: 2026-01-01T00:00:00Z}\non: {event: subscribe}\ndo: [{tag: x}]\n", ""},
		{"window equal", head + "window: {start: 2026-01-01T00:00:00Z, end: 2026-01-01T08:00:00+08:00}\non: {event: subscribe}\ndo: [{tag: x}]\n",
			"x.yaml:3: window.end: is not after window.start: the campaign could never run"},
		{"not a mapping", "just text\n", "x.yaml:1: a document must be a mapping with kind: CouponPool, Campaign or ReferralProgram"},
		{"duration days", "kind: CouponPool\nid: p\ntitle: t\ndiscount: {percent: 5}\nstock: 1\nvalid_for: 1.5d\n",
			`x.yaml:6: valid_for: "1.5d" is not a duration such as 90s, 24h or 30d`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]File{{"x.yaml", []byte(tt.yaml)}})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Load:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestYAMLSyntaxLines checks the line of syntax errors: yaml.v3 counts
// some of them from 0.
func TestYAMLSyntaxLines(t *testing.T) {
	tests := []struct {
		name, yaml string
		line       int
	}{
		{"unclosed flow mapping", "kind: Campaign\nid: c\non: {event: subscribe\ndo: []\n", 3},
		{"unclosed flow sequence", "kind: Campaign\nid: c\nwhen: {tags_any: [a, b}\n", 3},
		{"mapping after a list", "- a\nb: c\n", 2},
		{"tab indentation", "kind: Campaign\nid: c\non:\n\tevent: subscribe\n", 4},
		{"mapping in a scalar", "kind: Campaign\nid: c: d\n", 2},
		{"bad indentation", "kind: Campaign\nid: c\n on: x\n", 3},
		{"list item in a mapping", "kind: Campaign\nid: c\n- x\n", 3},
		{"second document", "kind: Campaign\n---\nkind: Campaign\nid: {a\n", 4},
		{"unknown anchor", "kind: Campaign\nid: c\non: *nope\n", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]File{{"x.yaml", []byte(tt.yaml)}})
			ps, ok := err.(Problems)
			if !ok {
				t.Fatalf("Load = %v, want Problems", err)
			}
			var got *Problem
			for i := range ps {
				if strings.HasPrefix(ps[i].Why, "YAML syntax") {
					got = &ps[i]
				}
			}
			if got == nil {
				t.Fatalf("no YAML syntax problem in:\n%v", err)
			}
			if got.Line != tt.line {
				t.Errorf("%s: line %d, want %d", got, got.Line, tt.line)
			}
		})
	}
}

// FuzzLoad: any bytes give a set or problems, never a panic, and every
// problem names its file and a line inside it.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"testdata/broken", "testdata/valid", "testdata/design", "../configs/campaigns"} {
		files, err := ReadPaths(dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			f.Add(file.Data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Load([]File{{"f.yaml", data}})
		if (set == nil) == (err == nil) {
			t.Fatalf("Load = %v, %v: want a set or an error", set, err)
		}
		if err == nil {
			return
		}
		ps, ok := err.(Problems)
		if !ok || len(ps) == 0 {
			t.Fatalf("Load error %T %v, want Problems", err, err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, p := range ps {
			if p.File != "f.yaml" || p.Line < 0 || p.Line > lines+1 {
				t.Errorf("problem %s: outside the file (%d lines)", p, lines)
			}
		}
	})
}
