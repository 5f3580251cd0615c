package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/sqldb"
)

// writeCampaigns writes src as a campaign file in a temp dir and returns it.
func writeCampaigns(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// scheduleCmdEnv is the environment of one-shot commands on a fresh
// SQLite database holding three followers (two of store sh-001) and the
// store catalogue's sh-001.
func scheduleCmdEnv(t *testing.T) ([]string, *sqldb.DB) {
	t.Helper()
	dbURL := testenv.SQLiteURL(t)
	cfg := filepath.Join(t.TempDir(), "omo.yaml")
	if err := os.WriteFile(cfg, []byte("database: {url: \""+dbURL+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := openStore(t, dbURL)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err := db.Write(context.Background(), func(tx *sqldb.Tx) error {
		for _, f := range []followers.Follower{
			{OpenID: "o-a", HomeStore: "sh-001"}, {OpenID: "o-b", HomeStore: "sh-001"}, {OpenID: "o-c", HomeStore: "bj-001"},
		} {
			f.Subscribed, f.SubscribedAt, f.FirstSeenAt, f.LastEventAt, f.FirstScene = true, &now, now, now, "store:"+f.HomeStore
			if err := tx.SaveFollower(&f); err != nil {
				return err
			}
			if err := tx.SetTag(f.OpenID, "vip", true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return []string{"OMO_CONFIG=" + cfg}, db
}

func TestCampaignsValidateSchedule(t *testing.T) {
	t.Parallel()
	environ, _ := scheduleCmdEnv(t)
	past := writeCampaigns(t, `kind: Campaign
id: launch
on:
  event: schedule
  at: 2020-01-01T09:00:00+08:00
do:
  - send_template: {template_id: T, page: pages/index/index}
`)
	out, _, err := runFor(t, 30*time.Second, []string{"campaigns", "validate", past}, nil)
	for _, want := range []string{
		past + ":5: on.at: 2020-01-01T09:00:00+08:00 is in the past",
		"warning: " + past + ":7: do[0].send_template: template messages are for service notices",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate of a past at printed:\n%s\nwant a line with %q", out, want)
		}
	}
	if err == nil {
		t.Error("validate of a past at: exit 0, want 1")
	}

	bad := writeCampaigns(t, `kind: Campaign
id: near
on: {event: schedule, cron: "0 10 * * *"}
when:
  tags_any: [vip, nobody-has-this]
  near: {store: nowhere, within_km: 3}
do:
  - send_subscribe: {template_id: S, page: pages/index/index}
`)
	out, _, err = runFor(t, 30*time.Second, []string{"campaigns", "validate", bad}, nil)
	if err != nil || !strings.Contains(out, "ok:") {
		t.Errorf("validate without a database = %v:\n%s\nwant ok (the store and tags are checked against a database)", err, out)
	}
	out, _, err = runFor(t, 30*time.Second, []string{"campaigns", "validate", bad}, environ)
	for _, want := range []string{
		bad + `:5: when.tags_any: no follower has tag "nobody-has-this"`,
		bad + `:6: when: the audience cannot be evaluated: when.near.store: no store "nowhere" in the catalogue`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate with the database printed:\n%s\nwant a line with %q", out, want)
		}
	}
	if err == nil {
		t.Error("validate with the database: exit 0, want 1")
	}
}

func TestCampaignsPlanAndControl(t *testing.T) {
	t.Parallel()
	environ, db := scheduleCmdEnv(t)
	file := writeCampaigns(t, `kind: Campaign
id: d11
timezone: Asia/Shanghai
on: {event: schedule, cron: "0 10 * * *"}
when: {store: sh-001}
do:
  - send_subscribe: {template_id: S, page: pages/index/index}
`)
	out, _, err := runFor(t, 30*time.Second, []string{"campaigns", "plan", file}, environ)
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	if !strings.Contains(out, "schedule d11: next ") || strings.Count(out, " 10:00 CST") != 3 ||
		!strings.Contains(out, "audience now: 2 follower(s), e.g. o-a, o-b") {
		t.Errorf("plan printed:\n%s\nwant three 10:00 CST slots and an audience of o-a, o-b", out)
	}
	if _, _, err := runFor(t, 30*time.Second, []string{"campaigns", "pause", "d11"}, environ); err == nil || !strings.Contains(err.Error(), `no campaign "d11" in the set the running omo applied`) {
		t.Errorf("pause before any omo ran the campaign = %v; want refused", err)
	}
	// What a running omo records when it applies its campaigns dir.
	files, err := campaigns.ReadPaths(file)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := json.Marshal(files)
	if err := db.Write(context.Background(), func(tx *sqldb.Tx) error { return tx.RecordCampaignSet("h1", blob, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runFor(t, 30*time.Second, []string{"campaigns", "pause", "d1l"}, environ); err == nil {
		t.Error("pause of a mistyped id: exit 0, want refused")
	}
	for _, tc := range []struct{ verb, state, printed string }{
		{"pause", sqldb.ControlPaused, "campaign d11: paused"},
		{"resume", sqldb.ControlRunning, "campaign d11: running"},
		{"cancel", sqldb.ControlCancelled, "campaign d11: cancelled"},
	} {
		out, _, err := runFor(t, 30*time.Second, []string{"campaigns", tc.verb, "d11"}, environ)
		if err != nil || !strings.Contains(out, tc.printed) {
			t.Errorf("campaigns %s = %v, %q; want %q", tc.verb, err, out, tc.printed)
		}
		if got, err := db.Control(context.Background(), "d11"); err != nil || got != tc.state {
			t.Errorf("after %s: control = %q, %v; want %q", tc.verb, got, err, tc.state)
		}
	}
	if _, _, err := runFor(t, 30*time.Second, []string{"campaigns", "pause"}, environ); !isUsage(err) {
		t.Errorf("campaigns pause without an id = %v, want a usage error", err)
	}
}
