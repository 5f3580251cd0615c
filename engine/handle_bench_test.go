package engine_test

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/sqldb"
)

// BenchmarkHandleSubscribe is the webhook's durable work without HTTP: 64
// goroutines hand the engine new subscribes, each a new follower, as the
// webhook does (group commit, the user_info outbox row). It isolates the
// committer's cost per push; `omo bench webhook` measures the whole path.
//
//	go test ./engine -run '^$' -bench HandleSubscribe -benchtime 50000x
func BenchmarkHandleSubscribe(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db, err := sqldb.Open(b.Context(), d.URL, discard)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(b.Context()); err != nil {
				b.Fatal(err)
			}
			batches := &batchCounter{}
			db.SetObserver(batches)
			eng := engine.New(db, nil, nil, discard)
			raw := []byte(`<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o6_bench_0000000000000000000]]></FromUserName><CreateTime>1764547200</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey></xml>`)
			var n atomic.Int64
			b.SetParallelism(32) // 64 on 2 cores
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					ev := subscribe(fmt.Sprintf("o6_bench_%019d", i*7919%1000000007), t0.Add(time.Duration(i)*time.Millisecond), "")
					if _, err := eng.Handle(b.Context(), ev, raw); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			// CPU per push (this process: engine, committer, SQLite's C) is
			// steadier than events/s on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
			b.ReportMetric(batches.mean(), "writes/batch")
		})
	}
}

// cpuTime is the CPU this process has used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// batchCounter is an sqldb.Observer that averages the batch size.
type batchCounter struct{ batches, writes atomic.Int64 }

func (c *batchCounter) Batch(size int, _, _ time.Duration) {
	c.batches.Add(1)
	c.writes.Add(int64(size))
}
func (c *batchCounter) Conflicts(int) {}
func (c *batchCounter) mean() float64 {
	return float64(c.writes.Load()) / max(1, float64(c.batches.Load()))
}
