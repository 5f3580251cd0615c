package sqldb

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/internal/testenv"
)

// claim takes one coupon of pool for openid in one write, as the engine
// does: a conditional decrement and the coupon row together.
func claim(ctx context.Context, db *DB, pool, openid string, now time.Time) (bool, error) {
	got := false
	err := db.Write(ctx, func(tx *Tx) error {
		got = false // a write may run again; only the committed run counts
		ok, err := tx.TakeFromPool(pool)
		if err != nil || !ok {
			return err
		}
		code, err := coupons.NewCode()
		if err != nil {
			return err
		}
		got = true
		return tx.AddCoupon(&coupons.Coupon{Code: code, Pool: pool, OpenID: openid,
			State: coupons.Issued, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	})
	return got && err == nil, err
}

func TestPoolNeverOversold(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		now := time.Now()
		write(t, db, func(tx *Tx) error { return tx.SyncPool("p", 50, now) })
		var got atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := claim(t.Context(), db, "p", "o"+string(rune('A'+i%26))+time.Now().String(), now)
				if err != nil {
					t.Errorf("claim: %v", err)
				}
				if ok {
					got.Add(1)
				}
			}()
		}
		wg.Wait()
		stock, issued, err := db.PoolCounts(t.Context(), "p")
		if err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := db.x.Get(&rows, `SELECT COUNT(*) FROM coupons WHERE pool_id = 'p'`); err != nil {
			t.Fatal(err)
		}
		if got.Load() != 50 || issued != 50 || stock != 50 || rows != 50 {
			t.Fatalf("claims = %d, issued = %d, stock = %d, coupon rows = %d; want 50 each", got.Load(), issued, stock, rows)
		}
		// Raising the stock keeps what was issued.
		write(t, db, func(tx *Tx) error { return tx.SyncPool("p", 60, now) })
		if _, issued, _ := db.PoolCounts(t.Context(), "p"); issued != 50 {
			t.Fatalf("issued after SyncPool = %d, want 50", issued)
		}
	})
}

// BenchmarkCouponClaims measures claims/s on one pool with 64 concurrent
// claimers, on SQLite and PostgreSQL, and checks nothing was oversold:
//
//	go test ./store -run '^$' -bench CouponClaims -benchtime 20000x
func BenchmarkCouponClaims(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db, err := Open(b.Context(), d.URL, discard)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(b.Context()); err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			pool := "bench-" + now.Format("150405.000000000") // the harness may run this more than once per database
			stock := int64(b.N) * 3 / 4                       // a quarter of the claims find the pool empty
			if err := db.Write(b.Context(), func(tx *Tx) error { return tx.SyncPool(pool, max(stock, 1), now) }); err != nil {
				b.Fatal(err)
			}
			const claimers = 64
			var next, got atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < claimers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
						ok, err := claim(context.Background(), db, pool, "o", now)
						if err != nil {
							b.Error(err)
							return
						}
						if ok {
							got.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "claims/s")
			if want := min(int64(b.N), max(stock, 1)); got.Load() != want {
				b.Fatalf("granted %d claims on a stock of %d (%d tried): want %d", got.Load(), max(stock, 1), b.N, want)
			}
			_, issued, _ := db.PoolCounts(context.Background(), pool)
			if issued != got.Load() {
				b.Fatalf("pool issued = %d, granted = %d", issued, got.Load())
			}
		})
	}
}
