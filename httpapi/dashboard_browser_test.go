package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/internal/testenv"
)

// chromium finds the headless browser: under CI=true its absence fails the
// test, elsewhere it skips it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: CI must install it (apt-get install chromium)")
	}
	t.Skip("chromium not found: install it (apt-get install chromium) to test the dashboard in a browser")
	return ""
}

// artifacts is where the browser test writes its screenshots:
// OMO_TEST_ARTIFACTS, or a temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("OMO_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserCtx starts a headless Chromium with the flags a machine without
// internet needs, and collects the page's console errors and exceptions.
func browserCtx(t *testing.T, path string) (context.Context, func() []string) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, // the flags, not DefaultExecAllocatorOptions: all that is needed
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true), chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	var mu sync.Mutex
	var problems []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, "console."+string(ev.Type)+": "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			e := ev.ExceptionDetails
			desc := e.Text
			if e.Exception != nil {
				desc += " " + e.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("exception at %s:%d: %s", e.URL, e.LineNumber+1, desc))
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), problems...) }
}

// pageState is what a drawn page shows: its ready flag, its canvases, the
// Chart.js instances, every figure (data-k → data-v, and its text) and the
// A/B split's table, winner and test.
type pageState struct {
	Ready      string            `json:"ready"`
	Canvases   int               `json:"canvases"`
	Sized      int               `json:"sized"`
	Charts     int               `json:"charts"`
	Values     map[string]string `json:"values"`
	Texts      map[string]string `json:"texts"`
	Variants   bool              `json:"variants"`
	Rows       [][]string        `json:"rows"` // the variants table's cells, row by row
	WinnerText string            `json:"winner_text"`
	TestText   string            `json:"test_text"`
}

const readState = `(() => {
  const cs = [...document.querySelectorAll('canvas')];
  const ks = [...document.querySelectorAll('[data-k]')];
  const text = id => { const e = document.getElementById(id); return e ? e.textContent : ''; };
  return {
    ready: document.body.dataset.ready || '',
    canvases: cs.length,
    sized: cs.filter(c => c.width > 0 && c.height > 0 && c.getBoundingClientRect().height > 0).length,
    charts: typeof Chart === 'undefined' ? 0 : Object.keys(Chart.instances).length,
    values: Object.fromEntries(ks.map(e => [e.dataset.k, e.dataset.v])),
    texts: Object.fromEntries(ks.map(e => [e.dataset.k, e.textContent])),
    variants: !!document.getElementById('variants'),
    rows: [...document.querySelectorAll('#variants tbody tr')].map(r => [...r.cells].map(c => c.textContent)),
    winner_text: text('variants-winner'),
    test_text: text('variants-test'),
  };
})()`

// TestDashboardBrowser logs in through the form in a real headless
// Chromium, opens every page and checks that it drew its charts without a
// console error and shows the figures the API answers; each page's
// screenshot goes to OMO_TEST_ARTIFACTS.
func TestDashboardBrowser(t *testing.T) {
	path := chromium(t)
	d := newDashEnv(t, testenv.SQLiteURL(t))
	d.seed(t)
	dir := artifacts(t)
	ctx, problems := browserCtx(t, path)

	// Log in: the page sends us to the form; a wrong token keeps us there,
	// the right one sends us back to the page.
	err := chromedp.Do(ctx,
		chromedp.Navigate(d.base+"/admin/stores"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), "not-the-token"),
		chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("login-error")),
	)
	if err != nil {
		t.Fatalf("a wrong token: %v", err)
	}
	if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err != nil || os.WriteFile(filepath.Join(dir, "dashboard-login.png"), shot, 0o644) != nil {
		t.Fatalf("screenshot of the login form: %v", err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("token"), adminToken),
		chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitReady(chromedp.CSS("body[data-ready]")),
	)
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != d.base+"/admin/stores" {
		t.Errorf("after login at %s, want %s/admin/stores", loc, d.base)
	}

	for _, p := range []struct {
		name, path string
		want       func(t *testing.T) map[string]string
	}{
		{"overview", "/admin/", d.wantOverview},
		{"campaigns", "/admin/campaigns", d.wantCampaigns},
		{"campaign", "/admin/campaigns/welcome", d.wantFunnel("welcome")},
		{"campaign-no-split", "/admin/campaigns/menu", d.wantFunnel("menu")},
		{"campaign-split", "/admin/campaigns/spring-ab", d.wantSplit("spring-ab")},
		{"campaign-split-decided", "/admin/campaigns/autumn-ab", d.wantSplit("autumn-ab")},
		{"stores", "/admin/stores", d.wantStores},
		{"referral", "/admin/referral", d.wantReferral},
		{"sends", "/admin/sends", d.wantSends},
	} {
		t.Run(p.name, func(t *testing.T) {
			err := chromedp.Do(ctx, chromedp.Navigate(d.base+p.path), chromedp.WaitReady(chromedp.CSS("body[data-ready]")))
			if err != nil {
				t.Fatalf("open %s: %v", p.path, err)
			}
			st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readState))
			if err != nil {
				t.Fatalf("read %s: %v", p.path, err)
			}
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot of %s: %v", p.path, err)
			}
			if err := os.WriteFile(filepath.Join(dir, "dashboard-"+p.name+".png"), shot, 0o644); err != nil {
				t.Fatal(err)
			}
			if p.name == "campaign-split-decided" { // the README's picture (docs/dashboard.png): what fits the window
				top, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, "dashboard.png"), top, 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if st.Ready != "1" {
				t.Errorf("%s: ready = %q, want 1 (the page failed to load)", p.path, st.Ready)
			}
			if st.Canvases == 0 || st.Sized != st.Canvases || st.Charts != st.Canvases {
				t.Errorf("%s: %d canvases, %d with a size, %d Chart.js charts; want at least one, all sized and charted", p.path, st.Canvases, st.Sized, st.Charts)
			}
			for k, want := range p.want(t) {
				if got, ok := st.Values[k]; !ok || got != want {
					t.Errorf("%s: %s shows %q (present %v), API says %s", p.path, k, got, ok, want)
				}
				if txt := strings.ReplaceAll(st.Texts[k], ",", ""); txt != want {
					t.Errorf("%s: %s reads %q, API says %s", p.path, k, st.Texts[k], want)
				}
			}
			switch p.name {
			case "campaign", "campaign-no-split":
				id := strings.TrimPrefix(p.path, "/admin/campaigns/")
				if code, body := d.do(t, "GET", "/admin/v1/campaigns/"+id+"/variants", "Bearer "+adminToken, ""); code != http.StatusNotFound {
					t.Fatalf("%s/variants = %d %s; the page is to show a campaign without a split", id, code, body)
				}
				if st.Variants || st.TestText != "" || st.WinnerText != "" {
					t.Errorf("%s: a campaign without a split (404) shows a variants table %v, test %q, winner %q", p.path, st.Variants, st.TestText, st.WinnerText)
				}
			case "campaign-split", "campaign-split-decided":
				d.checkSplit(t, strings.TrimPrefix(p.path, "/admin/campaigns/"), st)
			}
		})
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("the pages logged %d problems:\n%s", len(p), strings.Join(p, "\n"))
	}
	t.Logf("screenshots in %s", dir)
}

func itoa(n int) string { return strconv.Itoa(n) }

func (d *dashEnv) wantOverview(t *testing.T) map[string]string {
	var o engine.Overview
	d.getJSON(t, "/admin/v1/dashboard/overview?days=30", &o)
	c := o.Compare
	last := o.Days[len(o.Days)-1]
	return map[string]string{"followers_now": itoa(o.FollowersNow), "today.follows": itoa(c.Today.Follows),
		"yesterday.follows": itoa(c.Yesterday.Follows), "yesterday.unfollows": itoa(c.Yesterday.Unfollows),
		"yesterday.net": itoa(c.Yesterday.Net), "day." + last.Date + ".follows": itoa(last.Follows)}
}

func (d *dashEnv) wantCampaigns(t *testing.T) map[string]string {
	var list struct{ Campaigns []engine.CampaignFunnel }
	d.getJSON(t, "/admin/v1/dashboard/campaigns", &list)
	out := map[string]string{}
	for _, c := range list.Campaigns {
		f := c.Funnel
		for k, v := range map[string]int{"fired": f.Fired, "sent": f.Sent, "delivered": f.Delivered, "opened": f.Opened,
			"coupons_issued": f.CouponsIssued, "coupons_redeemed": f.CouponsRedeemed} {
			out[c.ID+"."+k] = itoa(v)
		}
	}
	return out
}

func (d *dashEnv) wantFunnel(id string) func(t *testing.T) map[string]string {
	return func(t *testing.T) map[string]string {
		var c engine.CampaignFunnel
		d.getJSON(t, "/admin/v1/campaigns/"+id+"/funnel", &c)
		f := c.Funnel
		return map[string]string{"funnel.fired": itoa(f.Fired), "funnel.sent": itoa(f.Sent), "funnel.delivered": itoa(f.Delivered),
			"funnel.opened": itoa(f.Opened), "funnel.coupons_issued": itoa(f.CouponsIssued), "funnel.coupons_redeemed": itoa(f.CouponsRedeemed)}
	}
}

// wantSplit is a split campaign's funnel and every variant's counts as
// GET /admin/v1/campaigns/{id}/variants answers them.
func (d *dashEnv) wantSplit(id string) func(t *testing.T) map[string]string {
	return func(t *testing.T) map[string]string {
		out := d.wantFunnel(id)(t)
		var r engine.VariantReport
		d.getJSON(t, "/admin/v1/campaigns/"+id+"/variants", &r)
		for _, v := range r.Variants {
			for k, n := range map[string]int{"weight": v.Weight, "fired": v.Fired, "sent": v.Sent, "delivered": v.Delivered, "opened": v.Opened,
				"coupons_issued": v.CouponsIssued, "coupons_redeemed": v.CouponsRedeemed, "sample": v.Sample} {
				out["variant."+v.Name+"."+k] = itoa(n)
			}
		}
		return out
	}
}

// checkSplit checks the split page st against GET .../variants: a row per
// variant in the split's order with its name (the winner's starred), its
// counts and its rate; the winner and the decision's reason when one is
// recorded, "No winner yet" when none is; and the test's reason as it
// stands now.
func (d *dashEnv) checkSplit(t *testing.T, id string, st pageState) {
	t.Helper()
	var r engine.VariantReport
	d.getJSON(t, "/admin/v1/campaigns/"+id+"/variants", &r)
	if !st.Variants || len(st.Rows) != len(r.Variants) {
		t.Fatalf("%s: variants table shown %v with %d rows, /variants answers %d variants", id, st.Variants, len(st.Rows), len(r.Variants))
	}
	winner := ""
	if r.Winner != nil {
		winner = *r.Winner
	}
	for i, v := range r.Variants {
		row := st.Rows[i]
		name := v.Name
		if v.Name == winner {
			name += " ★ winner"
		}
		if row[0] != name {
			t.Errorf("%s: row %d is variant %q, want %q", id, i, row[0], name)
		}
		k := "variant." + v.Name + ".rate"
		if got, err := strconv.ParseFloat(st.Values[k], 64); err != nil || got != v.Rate {
			t.Errorf("%s: %s holds %q, /variants says %v", id, k, st.Values[k], v.Rate)
		}
		if want := strconv.FormatFloat(v.Rate*100, 'f', 1, 64) + "%"; st.Texts[k] != want {
			t.Errorf("%s: %s reads %q, /variants says %s", id, k, st.Texts[k], want)
		}
	}
	if !strings.Contains(st.TestText, r.Test.Reason) || r.Test.Reason == "" {
		t.Errorf("%s: the test reads %q, want the reason %q", id, st.TestText, r.Test.Reason)
	}
	switch id {
	case "spring-ab": // the known data: short of min_sample, no winner
		if r.Winner != nil || !strings.HasPrefix(r.Test.Reason, "not enough data: ") {
			t.Fatalf("spring-ab: /variants has winner %v, reason %q; the known data has none, not enough data", r.Winner, r.Test.Reason)
		}
		if !strings.Contains(st.TestText, "No winner yet") || st.WinnerText != "" {
			t.Errorf("spring-ab: test %q, winner %q; want No winner yet and no winner", st.TestText, st.WinnerText)
		}
	case "autumn-ab": // the known data: DecideWinners declared bold
		if winner != "bold" || r.Decision == nil {
			t.Fatalf("autumn-ab: /variants has winner %v, decision %v; the known data has bold decided", r.Winner, r.Decision)
		}
		if !strings.Contains(st.WinnerText, "Winner: bold") || !strings.Contains(st.WinnerText, r.Decision.Reason) || strings.Contains(st.TestText, "No winner") {
			t.Errorf("autumn-ab: winner %q, test %q; want Winner: bold with the decision %q", st.WinnerText, st.TestText, r.Decision.Reason)
		}
	}
}

func (d *dashEnv) wantStores(t *testing.T) map[string]string {
	var got struct{ Stores []engine.StoreRow }
	d.getJSON(t, "/admin/v1/dashboard/stores", &got)
	out := map[string]string{}
	for _, s := range got.Stores {
		out[s.ID+".follows"], out[s.ID+".scans"] = itoa(s.Follows), itoa(s.Scans)
		out[s.ID+".coupons_issued"], out[s.ID+".coupons_redeemed"] = itoa(s.CouponsIssued), itoa(s.CouponsRedeemed)
	}
	return out
}

func (d *dashEnv) wantReferral(t *testing.T) map[string]string {
	var got struct{ Programs []engine.ProgramView }
	d.getJSON(t, "/admin/v1/dashboard/referral", &got)
	out := map[string]string{}
	for _, p := range got.Programs {
		out[p.ID+".invites"], out[p.ID+".held"], out[p.ID+".qualified"] = itoa(p.Stats.Invites), itoa(p.Stats.Held), itoa(p.Stats.Qualified)
		for r, n := range p.Stats.Rejected {
			out[p.ID+".rejected."+string(r)] = itoa(n)
		}
		for _, l := range p.Leaderboard {
			out[p.ID+".leader."+l.Code+".qualified"] = itoa(l.Qualified)
		}
	}
	return out
}

func (d *dashEnv) wantSends(t *testing.T) map[string]string {
	var s engine.Sends
	d.getJSON(t, "/admin/v1/dashboard/sends", &s)
	total := 0
	out := map[string]string{"outbox.pending": itoa(s.Outbox.Pending)}
	for _, c := range s.Counts {
		total += c.N
		out[c.Kind+"."+c.Outcome+"."+itoa(c.Errcode)] = itoa(c.N)
	}
	out["messages"] = itoa(total)
	return out
}
