package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that the demo writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var dashboardLine = regexp.MustCompile(`\nThe dashboard\n  (http://127\.0\.0\.1:\d+)/admin/  log in with the admin token (\S+)\n  omo keeps running`)

// runDemoKept runs `omo demo -keep` within d; once it prints the
// dashboard's URL it calls while(base, token) with omo still running, then
// stops the demo as Ctrl-C would and returns what it printed.
func runDemoKept(t *testing.T, d time.Duration, while func(base, token string)) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	stop, stopDemo := context.WithCancel(ctx)
	defer stopDemo()
	var out, errw syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(stop, []string{"demo", "-keep"}, &out, &errw, nil) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done: // it ended before it printed the URL
			return out.String(), errw.String(), err
		case <-ctx.Done():
			t.Fatalf("omo demo -keep: no dashboard URL within %v\n%s", d, out.String())
		case <-tick.C:
		}
		if m := dashboardLine.FindStringSubmatch(out.String()); m != nil {
			while(m[1], m[2])
			break
		}
	}
	stopDemo()
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("omo demo -keep did not stop within 15 s of Ctrl-C")
	}
	return out.String(), errw.String(), err
}

// checkDemoDashboard logs in to the running demo's dashboard through its
// form and checks that its API answers the story's figures.
func checkDemoDashboard(t *testing.T, base, token string) {
	t.Helper()
	if token != demoAdminToken {
		t.Errorf("the demo says to log in with %q, its admin token is %q", token, demoAdminToken)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("POST", base+"/admin/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `src="/admin/static/app.js"`) {
		t.Errorf("log in to the demo's dashboard: %d %.200s; want the overview page", resp.StatusCode, page)
	}
	get := func(path string, v any) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, v) != nil {
			t.Errorf("GET %s = %d %.300s", path, resp.StatusCode, body)
		}
	}
	var o struct {
		FollowersNow int `json:"followers_now"`
		Days         []struct{ Follows int }
	}
	get("/admin/v1/dashboard/overview?days=2", &o) // two days: the demo may cross midnight in Shanghai
	follows := 0
	for _, d := range o.Days {
		follows += d.Follows
	}
	// The 200 synced followers came without a push: only the story's 5 follows count.
	if o.FollowersNow != 205 || follows != 5 {
		t.Errorf("overview: %d followers now, %d follows; want 205 and the story's 5", o.FollowersNow, follows)
	}
	var camps struct {
		Campaigns []struct {
			ID     string
			Funnel map[string]any
		}
	}
	get("/admin/v1/dashboard/campaigns", &camps)
	fired := map[string]float64{}
	for _, c := range camps.Campaigns {
		fired[c.ID], _ = c.Funnel["fired"].(float64)
	}
	if fired["welcome"] != 1 || fired["double-11"] != 61 || fired["expiry-reminder"] != 61 {
		t.Errorf("campaigns fired %v; want welcome 1, double-11 61, expiry-reminder 61", fired)
	}
	var st struct {
		Stores []struct {
			ID              string
			Follows         int
			CouponsRedeemed int `json:"coupons_redeemed"`
		}
	}
	get("/admin/v1/dashboard/stores", &st)
	if len(st.Stores) == 0 || st.Stores[0].ID != "sh-001" || st.Stores[0].Follows != 1 || st.Stores[0].CouponsRedeemed != 1 {
		t.Errorf("stores %+v; want sh-001 first with 1 follow and 1 redemption", st.Stores)
	}
	var ref struct {
		Programs []struct {
			ID    string
			Stats struct{ Invites, Qualified int }
		}
	}
	get("/admin/v1/dashboard/referral", &ref)
	if len(ref.Programs) != 1 || ref.Programs[0].Stats.Invites != 3 || ref.Programs[0].Stats.Qualified != 3 {
		t.Errorf("referral %+v; want invite-friends with 3 invites, 3 qualified", ref.Programs)
	}
	var sends struct {
		Outbox struct{ Pending int }
	}
	get("/admin/v1/dashboard/sends", &sends)
	if sends.Outbox.Pending != 0 {
		t.Errorf("outbox pending %d after the story, want 0", sends.Outbox.Pending)
	}
}
