package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
)

// runFor runs omo with args and environ, bounded at d (past it the test
// fails), and returns what it printed and its error.
func runFor(t *testing.T, d time.Duration, args, environ []string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out, errw bytes.Buffer
	err = run(ctx, args, &out, &errw, environ)
	if ctx.Err() != nil {
		t.Fatalf("omo %s: did not finish within %v", strings.Join(args, " "), d)
	}
	return out.String(), errw.String(), err
}

// TestServeRefusesBadConfig checks that a wrong config stops start-up with
// a message naming every wrong key, and that command-line mistakes are
// usage errors (exit status 2).
func TestServeRefusesBadConfig(t *testing.T) {
	good := map[string]string{
		"OMO_DATABASE_URL":                       "sqlite://" + filepath.Join(t.TempDir(), "omo.db"),
		"OMO_WECHAT_OFFICIAL_ACCOUNT_APP_ID":     testAppID,
		"OMO_WECHAT_OFFICIAL_ACCOUNT_APP_SECRET": testSecret,
		"OMO_WECHAT_OFFICIAL_ACCOUNT_TOKEN":      testToken,
		"OMO_HTTP_ADDR":                          "127.0.0.1:0",
		"OMO_CONFIG":                             filepath.Join(t.TempDir(), "missing.yaml"),
	}
	env := func(change map[string]string) []string {
		var out []string
		for k, v := range good {
			if c, ok := change[k]; ok {
				v = c
			}
			if v != "" {
				out = append(out, k+"="+v)
			}
		}
		for k, v := range change {
			if _, ok := good[k]; !ok {
				out = append(out, k+"="+v)
			}
		}
		return out
	}
	tests := []struct {
		name   string
		args   []string
		change map[string]string
		want   []string // each must appear in the error
		usage  bool
	}{
		{
			name:   "missing token and bad database url",
			args:   []string{"serve"},
			change: map[string]string{"OMO_WECHAT_OFFICIAL_ACCOUNT_TOKEN": "", "OMO_DATABASE_URL": "mysql://db/omo", "OMO_CONFIG": ""},
			want:   []string{"wechat.official_account.token", "database.url"},
		},
		{
			name:   "unknown variable",
			args:   []string{"serve"},
			change: map[string]string{"OMO_DATABSE_URL": "sqlite://x.db", "OMO_CONFIG": ""},
			want:   []string{"OMO_DATABSE_URL"},
		},
		{
			name:   "bad duration",
			args:   []string{"serve"},
			change: map[string]string{"OMO_WECHAT_TIMEOUT": "5", "OMO_CONFIG": ""},
			want:   []string{"wechat.timeout", "OMO_WECHAT_TIMEOUT"},
		},
		{
			name:   "database not answering",
			args:   []string{"serve"},
			change: map[string]string{"OMO_DATABASE_URL": "postgres://omo:pgpass123@127.0.0.1:1/omo?sslmode=disable&connect_timeout=2", "OMO_CONFIG": ""},
			want:   []string{"database.url"},
		},
		{
			name: "named config file missing",
			args: []string{"serve"},
			want: []string{"missing.yaml"},
		},
		{name: "no command", args: nil, usage: true, want: []string{"no command"}},
		{name: "unknown command", args: []string{"frobnicate"}, usage: true, want: []string{`unknown command "frobnicate"`}},
		{name: "unknown flag", args: []string{"serve", "-nope"}, usage: true, want: []string{"nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runFor(t, 20*time.Second, tt.args, env(tt.change))
			if err == nil {
				t.Fatal("run = nil, want an error")
			}
			if got := isUsage(err); got != tt.usage {
				t.Errorf("usage error = %v, want %v (err: %v)", got, tt.usage, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pgpass123") {
				t.Errorf("error %q shows the database password", err)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing on a failed start", stdout)
			}
			if tt.usage && len(tt.args) < 2 && !strings.Contains(stderr, "usage: omo COMMAND") {
				t.Errorf("stderr = %q, want the usage", stderr)
			}
		})
	}
}

// TestHelp checks that asking for help is not an error and lists the commands.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"help", "-h", "--help"} {
		stdout, _, err := runFor(t, 5*time.Second, []string{arg}, nil)
		if err != nil {
			t.Errorf("omo %s: %v", arg, err)
		}
		for _, cmd := range []string{"serve", "worker", "demo", "sim", "migrate"} {
			if !strings.Contains(stdout, "\n  "+cmd+" ") {
				t.Errorf("omo %s: usage does not list %s:\n%s", arg, cmd, stdout)
			}
		}
	}
}

// TestDemo runs `omo demo` from the repository root, as the README
// promises it works on a fresh machine: no account, no Redis, no database
// server, the example campaigns of configs/campaigns. The story's steps and
// the outcomes that matter are checked; the wording of replies is the
// campaigns' to change. It runs with -keep: at the end the dashboard's API
// answers the story's figures, and Ctrl-C stops it.
func TestDemo(t *testing.T) {
	t.Chdir("../..")
	out, stderr, err := runDemoKept(t, 90*time.Second, func(base, token string) { checkDemoDashboard(t, base, token) })
	if err != nil {
		t.Fatalf("omo demo: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	answers := regexp.MustCompile(`(?m)^ ?(\d+)\. .*\n    -> omo answered (\d+) (.*)$`).FindAllStringSubmatch(out, -1)
	if len(answers) < 10 {
		t.Fatalf("demo shows %d answered steps, want at least 10:\n%s", len(answers), out)
	}
	if answers[0][3] != answers[1][3] || !strings.Contains(answers[0][3], "passive reply") {
		t.Errorf("the follow was answered %q and its retry %q; want the same passive reply", answers[0][3], answers[1][3])
	}
	for _, want := range []string{
		" 1. Alice scans the QR code on the counter of store sh-001 and follows\n",
		" 2. WeChat did not hear back in time and retries Alice's follow\n",
		"    -> the same answer, and nothing acted twice\n",
		"issued from pool welcome-10",
		"WeChat got template TPL_COUPON_ISSUED for o-alice, opening the mini-program at",
		"&omo_c=welcome&omo_m=",
		"WeChat reported it delivered (TEMPLATESENDJOBFINISH)",
		"open counted for campaign welcome: true",
		"WeChat got template TPL_COUPON_LIST opening pages/coupon/list?omo_c=menu-my-coupons&omo_m=",
		"Alice, on her 3rd friend, got",
		"Staff at sh-001 scan Alice's welcome coupon\n    -> omo answered 200 OK",
		"Someone tries the same coupon again\n    -> omo answered 409 Conflict",
		"GET /admin/v1/campaigns/welcome/stats: fired 1, sent 1, delivered 1, opened 1, coupons_issued 1, coupons_redeemed 1, failed 0",
		"GET /admin/v1/referral/invite-friends/stats: invites 3, qualified 3, referrer rewards 1",
		"WeChat got template TPL_NEARBY_STORE (People's Square, 0.3 km away) opening\n       pages/store/index?id=sh-001&omo_c=nearby-store&omo_m=",
		"no second promotion of the same store within a day",
		"GET /admin/v1/stores/sh-001/stats: follows 1 (new 1), scans 0, coupons_issued 1, coupons_redeemed 1",
		"omo stored 16 pushes (the retry acted once) and 5 followers (5 following):",
		"o-alice  following=true  first scene=store:sh-001  unionid=u-alice",
		"o-bob    following=true  first scene=-             unionid=u-bob",
		"outbox: 15 done, 0 pending, 0 failed",
		"7 template sends, 5 user/info (unionid lookups), 1 QR codes, 1 access-token fetches",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	checkDemoProactive(t, out)
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
}

// checkDemoProactive checks the last chapter of the demo: 200 existing
// followers synced, the scheduled slot planned for its whole audience, a
// restart in the middle of the fan-out, every recipient reached exactly
// once, and a coupon-expiry reminder delivered, no coupon code in full.
func checkDemoProactive(t *testing.T, out string) {
	t.Helper()
	num := func(re string) []int {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("demo output lacks %s", re)
			return nil
		}
		ns := make([]int, len(m)-1)
		for i, s := range m[1:] {
			ns[i], _ = strconv.Atoi(s)
		}
		return ns
	}
	for _, want := range []string{
		"\nReaching existing followers\n",
		"205 followers stored (the 200 and the 5 of the story)",
		"sh-001 61, sh-002 40, bj-001 20",
		`at cron "0 10 11 11 *" (Asia/Shanghai); for the demo, once at`,
		"the outbox sweep re-queues the unfinished batch",
		"nobody twice: the simulator got SUB_DOUBLE11 exactly once for each of the 61 recipients,\n       and for no one else",
		"Alice's: template TPL_COUPON_EXPIRING",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	audience := num(`audience (\d+) followers`)
	planned := num(`(\d+) recipients planned, in 1 batch`)
	crash := num(`(\d+) of (\d+) sent before the crash`)
	after := num(`(\d+) sent after the restart: (\d+) \+ (\d+) = (\d+) sent of (\d+) planned`)
	firing := num(`firings: slot \d\d:\d\d:\d\d done,\n +planned (\d+), sent (\d+), failed (\d+), skipped 0, pending 0`)
	reminded := num(`(\d+) coupons issued by the fan-out, (\d+) reminders claimed .*\n.* (\d+) sent, one per follower`)
	if audience == nil || planned == nil || crash == nil || after == nil || firing == nil || reminded == nil {
		return
	}
	n := audience[0]
	if n != 61 || planned[0] != n || crash[1] != n || after[3] != n || after[4] != n || firing[0] != n {
		t.Errorf("audience %d, planned %d, after the restart %v, firing %v; want 61 throughout", n, planned[0], after, firing)
	}
	if crash[0] == 0 || crash[0] >= n || after[0] == 0 || crash[0]+after[0] != n {
		t.Errorf("%d sent before the crash and %d after; want both some, %d in all", crash[0], after[0], n)
	}
	// The one call under way at the crash, if any, is outcome_unknown.
	if firing[1]+firing[2] != n || firing[2] > 1 {
		t.Errorf("firing: sent %d, failed %d; want %d, at most one failed (outcome_unknown)", firing[1], firing[2], n)
	}
	if reminded[0] != n || reminded[1] != n || reminded[2] != n {
		t.Errorf("reminders: %v; want %d coupons, claims and sends", reminded, n)
	}
	if !regexp.MustCompile(`opening\n +pages/coupon/detail\?code=[0-9A-Z]{4}\*+&omo_c=expiry-reminder&omo_m=`).MatchString(out) {
		t.Errorf("demo output lacks Alice's reminder opening her masked coupon")
	}
	if full := regexp.MustCompile(`code=[0-9A-Z]{5,}`).FindAllString(out, -1); len(full) > 0 {
		t.Errorf("demo prints coupon codes in full: %v", full)
	}
}

// TestMigrateCommand checks that `omo migrate` creates the schema on a fresh
// database and is harmless when run again.
func TestMigrateCommand(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			env := []string{"OMO_DATABASE_URL=" + d.URL}
			for i := range 2 {
				out, stderr, err := runFor(t, 30*time.Second, []string{"migrate"}, env)
				if err != nil {
					t.Fatalf("omo migrate (run %d): %v\n%s", i+1, err, stderr)
				}
				if !strings.Contains(out, "database is up to date") {
					t.Errorf("omo migrate (run %d) printed %q", i+1, out)
				}
			}
			db := openStore(t, d.URL)
			if n, err := db.CountEvents(context.Background()); err != nil || n != 0 {
				t.Errorf("after migrate: CountEvents = %d, %v; want 0, nil", n, err)
			}
		})
	}
}
