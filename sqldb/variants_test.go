package sqldb

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/outbox"
)

// TestVariantStats counts known firings, messages and coupons of a split
// campaign per variant; rows of another campaign and of the campaign
// before it had a split ("") are kept apart.
func TestVariantStats(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		type msg struct {
			variant                 string
			sent, delivered, opened bool
			campaign                string
		}
		msgs := []msg{
			{"a", true, true, true, "ab"}, {"a", true, true, false, "ab"}, {"a", true, false, false, "ab"}, {"a", false, false, false, "ab"},
			{"b", true, true, true, "ab"}, {"b", true, false, true, "ab"},
			{"", true, true, true, "ab"},
			{"a", true, true, true, "other"},
		}
		write(t, db, func(tx *Tx) error {
			for i, m := range msgs {
				id := fmt.Sprintf("m%d", i)
				if err := tx.AddMessage(&outbox.MessageRow{ID: id, CampaignID: m.campaign, OpenID: fmt.Sprintf("o%d", i), Kind: outbox.SendTemplate,
					Payload: []byte("{}"), State: outbox.MsgPending, CreatedAt: now, Variant: m.variant}); err != nil {
					return err
				}
				if m.sent {
					if err := tx.MarkSent(id, int64(100+i), outbox.SendTemplate, "", now); err != nil {
						return err
					}
				}
				if m.delivered {
					if _, err := tx.MarkDelivery(fmt.Sprintf("o%d", i), int64(100+i), "success", now); err != nil {
						return err
					}
				}
				if m.opened {
					if _, err := tx.MarkOpened(id, m.campaign, now); err != nil {
						return err
					}
				}
			}
			firings := []struct{ campaign, variant string }{{"ab", "a"}, {"ab", "a"}, {"ab", "a"}, {"ab", "b"}, {"ab", ""}, {"other", "a"}}
			for i, f := range firings {
				if err := tx.AddFiring(f.campaign, fmt.Sprintf("o%d", i), "", f.variant, 0, now); err != nil {
					return err
				}
			}
			cps := []struct {
				campaign, variant string
				redeemed          bool
			}{{"ab", "a", true}, {"ab", "a", false}, {"ab", "b", true}, {"ab", "b", true}, {"ab", "b", false}, {"other", "b", true}}
			for i, c := range cps {
				code := fmt.Sprintf("CODE%02d", i)
				if err := tx.AddCoupon(&coupons.Coupon{Code: code, Pool: "p", OpenID: "o1", Campaign: c.campaign, State: coupons.Issued,
					IssuedAt: now, ExpiresAt: now.Add(time.Hour), Variant: c.variant}); err != nil {
					return err
				}
				if c.redeemed {
					if ok, err := tx.RedeemCoupon(code, "sh-001", now); err != nil || !ok {
						return fmt.Errorf("redeem %s: %v, %v", code, ok, err)
					}
				}
			}
			return nil
		})
		got, err := db.VariantStats(t.Context(), "ab")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]*campaigns.VariantStats{
			"a": {Name: "a", Fired: 3, Sent: 3, Delivered: 2, Opened: 1, CouponsIssued: 2, CouponsRedeemed: 1},
			"b": {Name: "b", Fired: 1, Sent: 2, Delivered: 1, Opened: 2, CouponsIssued: 3, CouponsRedeemed: 2},
			"":  {Name: "", Fired: 1, Sent: 1, Delivered: 1, Opened: 1},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("VariantStats (-want +got):\n%s", diff)
		}
		none, err := db.VariantStats(t.Context(), "nothing")
		if err != nil || len(none) != 0 {
			t.Errorf("VariantStats of a campaign with no rows = %v, %v; want empty", none, err)
		}
		// The message and coupon read back carry their variant.
		if m, err := db.Message(t.Context(), "m4"); err != nil || m.Variant != "b" {
			t.Errorf("message m4 variant = %+v, %v; want b", m, err)
		}
		cps, err := db.CouponsOf(t.Context(), "o1")
		byVariant := map[string]int{}
		for _, c := range cps {
			byVariant[c.Variant]++
		}
		if err != nil || !cmp.Equal(byVariant, map[string]int{"a": 2, "b": 4}) {
			t.Errorf("coupons of o1 by variant = %v, %v; want a 2, b 4", byVariant, err)
		}
	})
}

// TestRecordWinnerOnce: of concurrent decisions, exactly one insert wins
// and the record never changes after.
func TestRecordWinnerOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		won := []string{}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := &Winner{CampaignID: "ab", Variant: []string{"a", "b"}[i%2], Metric: "opened", Confidence: 0.95, MinSample: 100,
					Z: 3.1, P: 0.002, Reason: "r", Rates: "[]", DecidedAt: now.Add(time.Duration(i) * time.Second), DecidedBy: fmt.Sprint("p", i)}
				var mine bool
				if err := db.Write(t.Context(), func(tx *Tx) (err error) { mine, err = tx.RecordWinner(w); return err }); err != nil {
					t.Error(err)
					return
				}
				if mine {
					mu.Lock()
					won = append(won, w.DecidedBy)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("inserts that won: %v, want exactly one", won)
		}
		w, err := db.Winner(t.Context(), "ab")
		if err != nil || w.DecidedBy != won[0] || w.Metric != "opened" || w.Z != 3.1 || w.P != 0.002 || w.MinSample != 100 {
			t.Errorf("Winner = %+v, %v; want the one %s wrote", w, err, won[0])
		}
		var v string
		write(t, db, func(tx *Tx) (err error) { v, err = tx.WinnerOf("ab"); return err })
		if v != w.Variant {
			t.Errorf("WinnerOf = %q, want %q", v, w.Variant)
		}
		write(t, db, func(tx *Tx) (err error) { v, err = tx.WinnerOf("undecided"); return err })
		if v != "" {
			t.Errorf("WinnerOf(undecided) = %q, want none", v)
		}
		if _, err := db.Winner(t.Context(), "undecided"); err == nil {
			t.Error("Winner(undecided): no error, want NotFound")
		}
	})
}
