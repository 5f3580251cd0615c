package httpapi_test

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/httpapi"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

const variantCampaigns = `
kind: CouponPool
id: ab-10
title: "¥10 off"
discount: {amount_fen: 1000}
stock: 100000
valid_for: 720h
---
kind: Campaign
id: welcome-ab
on: {event: subscribe}
split:
  variants:
    - name: a
      weight: 60
      do:
        - issue_coupon: {pool: ab-10}
        - send_template: {template_id: TPL_A, page: pages/coupon/detail, query: {code: "{{.Coupon.Code}}"}}
    - name: b
      weight: 40
      do:
        - issue_coupon: {pool: ab-10}
        - send_template: {template_id: TPL_B, page: pages/index/index}
  winner: {metric: opened, min_sample: 50, confidence: 0.99}
---
kind: Campaign
id: plain
on: {event: subscribe}
do: [{tag: welcomed}]
`

// variantsJSON is the body of GET /admin/v1/campaigns/{id}/variants.
type variantsJSON struct {
	Campaign   string  `json:"campaign"`
	Metric     string  `json:"metric"`
	Confidence float64 `json:"confidence"`
	MinSample  int     `json:"min_sample"`
	Variants   []struct {
		Name            string  `json:"name"`
		Weight          int     `json:"weight"`
		Fired           int     `json:"fired"`
		Sent            int     `json:"sent"`
		Delivered       int     `json:"delivered"`
		Opened          int     `json:"opened"`
		CouponsIssued   int     `json:"coupons_issued"`
		CouponsRedeemed int     `json:"coupons_redeemed"`
		Rate            float64 `json:"rate"`
		Sample          int     `json:"sample"`
		Rates           struct {
			Delivered float64 `json:"delivered"`
			Opened    float64 `json:"opened"`
			Redeemed  float64 `json:"redeemed"`
		} `json:"rates"`
	} `json:"variants"`
	Test struct {
		Best        string  `json:"best"`
		Against     string  `json:"against"`
		Z           float64 `json:"z"`
		P           float64 `json:"p"`
		Significant bool    `json:"significant"`
		Reason      string  `json:"reason"`
	} `json:"test"`
	Winner    *string    `json:"winner"`
	DecidedAt *time.Time `json:"decided_at"`
	Decision  *struct {
		Variant string  `json:"variant"`
		Z       float64 `json:"z"`
		P       float64 `json:"p"`
		Reason  string  `json:"reason"`
	} `json:"decision"`
}

func newVariantsEnv(t *testing.T, dbURL string) *adminEnv {
	t.Helper()
	db := openDB(t, dbURL)
	a := &adminEnv{db: db, clock: testenv.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))}
	a.eng = engine.New(db, &recorder{}, a.clock.Now, discard)
	files := []campaigns.File{{Name: "campaigns/ab.yaml", Data: []byte(variantCampaigns)}}
	set, err := campaigns.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.eng.SetCampaigns(t.Context(), set, files); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Deps{Engine: a.eng, Log: discard, Now: a.clock.Now, AdminToken: adminToken}).Handler())
	t.Cleanup(srv.Close)
	a.base = srv.URL
	return a
}

// counted is what the database holds for one variant, counted here from
// the message and coupon rows themselves.
type counted struct{ fired, sent, delivered, opened, issued, redeemed int }

// TestAdminVariants plays followers through a split, sends, delivers,
// opens and redeems some of what it made, and checks /variants against the
// rows in the database, before and after the winner is declared.
func TestAdminVariants(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			a := newVariantsEnv(t, d.URL)
			var openids []string
			for i := range 200 {
				id := fmt.Sprintf("oV%03d", i)
				openids = append(openids, id)
				ev := &events.Event{Type: events.Subscribe, ToUser: oaGh, OpenID: id, CreatedAt: a.clock.Now()}
				if _, err := a.eng.Handle(t.Context(), ev, nil); err != nil {
					t.Fatal(err)
				}
			}
			ms, err := a.db.MessagesOf(t.Context(), "welcome-ab", "")
			if err != nil || len(ms) != 200 {
				t.Fatalf("messages = %d, %v; want 200", len(ms), err)
			}
			// Sent all but every 7th; delivered every other sent one;
			// opened: a's every 10th, b's every 2nd; redeemed: every 3rd coupon.
			now := a.clock.Now()
			idx := map[string]int{}
			err = a.db.Write(t.Context(), func(tx *sqldb.Tx) error {
				for i, m := range ms {
					n := idx[m.Variant]
					idx[m.Variant]++
					if n%7 == 6 {
						continue
					}
					if err := tx.MarkSent(m.ID, int64(5000+i), outbox.SendTemplate, "", now); err != nil {
						return err
					}
					if n%2 == 0 {
						if _, err := tx.MarkDelivery(m.OpenID, int64(5000+i), "success", now); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			idx = map[string]int{}
			for _, m := range ms {
				n := idx[m.Variant]
				idx[m.Variant]++
				if n%7 != 6 && (m.Variant == "a" && n%10 == 0 || m.Variant == "b" && n%2 == 0) {
					if _, err := a.eng.Track(t.Context(), "welcome-ab", m.ID, "pages/index/index"); err != nil {
						t.Fatal(err)
					}
				}
			}
			for i, id := range openids {
				if i%3 != 0 {
					continue
				}
				cps, err := a.db.CouponsOf(t.Context(), id)
				if err != nil || len(cps) != 1 {
					t.Fatalf("coupons of %s = %v, %v", id, cps, err)
				}
				if code, body := a.admin(t, "POST", "/admin/v1/coupons/redeem", fmt.Sprintf(`{"code": %q, "store_id": "sh-001"}`, cps[0].Code)); code != http.StatusOK {
					t.Fatalf("redeem: %d %s", code, body)
				}
			}
			want := a.count(t, openids)
			if want["a"].sent < 50 || want["b"].sent < 50 {
				t.Fatalf("counted %+v; the test needs 50 sent of each", want)
			}

			got := a.variants(t, "welcome-ab")
			a.compare(t, got, want)
			if got.Winner != nil || got.DecidedAt != nil || got.Decision != nil {
				t.Errorf("before any decision: winner %v, decided_at %v, decision %+v; want null", got.Winner, got.DecidedAt, got.Decision)
			}
			if got.Test.Best != "b" || got.Test.Against != "a" || !got.Test.Significant || got.Test.Z <= 0 ||
				!strings.HasPrefix(got.Test.Reason, "b opens ") || !strings.Contains(got.Test.Reason, "; significant at 99% (p ") {
				t.Errorf("test = %+v; want b significantly ahead of a at 99%%", got.Test)
			}

			// The tick records it; the answer then names the winner.
			a.clock.Add(time.Minute)
			if err := a.eng.DecideWinners(t.Context(), "serve-1"); err != nil {
				t.Fatal(err)
			}
			got = a.variants(t, "welcome-ab")
			a.compare(t, got, want)
			if got.Winner == nil || *got.Winner != "b" || got.DecidedAt == nil || !got.DecidedAt.Equal(a.clock.Now()) ||
				got.Decision == nil || got.Decision.Variant != "b" || got.Decision.Z != got.Test.Z || got.Decision.Reason != got.Test.Reason {
				t.Errorf("after the decision: winner %v at %v, decision %+v; want b at %v with the test's z and reason", got.Winner, got.DecidedAt, got.Decision, a.clock.Now())
			}

			code, body := a.admin(t, "GET", "/admin/v1/campaigns/plain/variants", "")
			if code != http.StatusNotFound || !strings.Contains(body, `campaign \"plain\" has no split`) {
				t.Errorf("variants of a campaign without split: %d %s; want 404 naming it", code, body)
			}
			if code, body := a.admin(t, "GET", "/admin/v1/campaigns/nope/variants", ""); code != http.StatusNotFound {
				t.Errorf("variants of an unknown campaign: %d %s; want 404", code, body)
			}
			if code, _ := a.do(t, "GET", "/admin/v1/campaigns/welcome-ab/variants", "", ""); code != http.StatusUnauthorized {
				t.Errorf("variants without the admin token: %d; want 401", code)
			}
		})
	}
}

func (a *adminEnv) variants(t *testing.T, id string) variantsJSON {
	t.Helper()
	code, body := a.admin(t, "GET", "/admin/v1/campaigns/"+id+"/variants", "")
	if code != http.StatusOK {
		t.Fatalf("GET variants of %s: %d %s", id, code, body)
	}
	var raw map[string]any
	decode(t, body, &raw)
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"campaign", "confidence", "decided_at", "decision", "metric", "min_sample", "test", "variants", "winner"}; !slices.Equal(keys, want) {
		t.Errorf("variants keys %v, want %v", keys, want)
	}
	var v variantsJSON
	decode(t, body, &v)
	return v
}

// count counts each variant's firings (one per follower here), messages
// and coupons from the rows of the database.
func (a *adminEnv) count(t *testing.T, openids []string) map[string]*counted {
	t.Helper()
	out := map[string]*counted{"a": {}, "b": {}}
	ms, err := a.db.MessagesOf(t.Context(), "welcome-ab", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		c := out[m.Variant]
		c.fired++
		if m.SentAt != nil {
			c.sent++
		}
		if m.DeliveredAt != nil {
			c.delivered++
		}
		if m.OpenedAt != nil {
			c.opened++
		}
	}
	for _, id := range openids {
		cps, err := a.db.CouponsOf(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, cp := range cps {
			c := out[cp.Variant]
			c.issued++
			if cp.State == coupons.Redeemed {
				c.redeemed++
			}
		}
	}
	return out
}

func (a *adminEnv) compare(t *testing.T, got variantsJSON, want map[string]*counted) {
	t.Helper()
	if got.Campaign != "welcome-ab" || got.Metric != "opened" || got.Confidence != 0.99 || got.MinSample != 50 || len(got.Variants) != 2 {
		t.Fatalf("variants = %+v; want welcome-ab, opened, 0.99, 50 and two variants", got)
	}
	for i, v := range got.Variants {
		name, weight := []string{"a", "b"}[i], []int{60, 40}[i]
		w := want[name]
		c := counted{v.Fired, v.Sent, v.Delivered, v.Opened, v.CouponsIssued, v.CouponsRedeemed}
		if v.Name != name || v.Weight != weight || c != *w {
			t.Errorf("variant %d = %s weight %d %+v; want %s weight %d %+v", i, v.Name, v.Weight, c, name, weight, *w)
		}
		rate := float64(w.opened) / float64(w.sent)
		if v.Sample != w.sent || math.Abs(v.Rate-rate) > 1e-12 || math.Abs(v.Rates.Opened-rate) > 1e-12 ||
			math.Abs(v.Rates.Delivered-float64(w.delivered)/float64(w.sent)) > 1e-12 ||
			math.Abs(v.Rates.Redeemed-float64(w.redeemed)/float64(w.issued)) > 1e-12 {
			t.Errorf("variant %s: sample %d rate %v rates %+v; want sample %d rate %v", name, v.Sample, v.Rate, v.Rates, w.sent, rate)
		}
	}
}
