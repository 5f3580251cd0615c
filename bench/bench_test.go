package bench_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/bench"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/httpapi"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat"
)

const (
	token  = "benchtesttoken"
	appID  = "wxbenchtest00001"
	aesKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// omo is the webhook part of omo in-process: SQLite in a temp dir, the
// engine with no queue (outbox rows are committed and stay pending).
type omo struct {
	url string
	db  *sqldb.DB
}

func startOmo(tb testing.TB, key string) *omo {
	tb.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqldb.Open(ctx, "sqlite://"+filepath.Join(tb.TempDir(), "omo.db"), log)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		tb.Fatal(err)
	}
	codec, err := wechat.NewCodec(wechat.WebhookConfig{AppID: appID, Token: token, EncodingAESKey: key})
	if err != nil {
		db.Close()
		tb.Fatal(err)
	}
	api := httpapi.New(httpapi.Deps{Codec: codec, Engine: engine.New(db, nil, nil, log), Log: log})
	srv := httptest.NewServer(api.Handler())
	tb.Cleanup(func() { srv.Close(); db.Close() })
	return &omo{url: srv.URL + "/wechat/oa", db: db}
}

func (o *omo) stored(tb testing.TB) int64 {
	tb.Helper()
	n, err := o.db.CountEvents(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return int64(n)
}

func startBaseline(tb testing.TB, key string) string {
	srv := httptest.NewServer(wechat.BaselineHandler(token, appID, key))
	tb.Cleanup(srv.Close)
	return srv.URL + "/wechat/oa"
}

func modes() map[string]string { return map[string]string{"plaintext": "", "safe": aesKey} }

// TestRunAgainstOmoAndBaseline is the benchmark in small: about a second of
// load on each target, every push acknowledged, and omo stored exactly the
// pushes it acknowledged.
func TestRunAgainstOmoAndBaseline(t *testing.T) {
	for name, key := range modes() {
		t.Run(name, func(t *testing.T) {
			o := startOmo(t, key)
			targets := map[string]string{"omo": o.url, "baseline": startBaseline(t, key)}
			for target, url := range targets {
				res, err := bench.Run(context.Background(), bench.Options{URL: url, Token: token, AESKey: key, AppID: appID,
					Concurrency: 8, Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond})
				if err != nil {
					t.Fatalf("%s: %v", target, err)
				}
				if res.Errors != 0 || res.Warmup.Errors != 0 {
					t.Errorf("%s: %d errors (%d in warm-up): %v", target, res.Errors, res.Warmup.Errors, res.ErrorSummary())
				}
				if res.OK == 0 || res.EventsPerSec <= 0 || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 {
					t.Errorf("%s: implausible result %+v", target, res)
				}
				t.Logf("%s: %.0f events/s, p50 %v, p99 %v", target, res.EventsPerSec, res.Latency.P50, res.Latency.P99)
				if target == "omo" {
					if got, want := o.stored(t), res.Acknowledged(); got != want {
						t.Errorf("omo stored %d events, acknowledged %d", got, want)
					}
				}
			}
		})
	}
}

// TestRunCount stops after exactly Count pushes.
func TestRunCount(t *testing.T) {
	o := startOmo(t, "")
	res, err := bench.Run(context.Background(), bench.Options{URL: o.url, Token: token, Concurrency: 7, Count: 250})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 250 || res.OK != 250 {
		t.Errorf("sent %d, acknowledged %d, want 250 and 250 (%v)", res.Sent, res.OK, res.ErrorSummary())
	}
	if got := o.stored(t); got != 250 {
		t.Errorf("stored %d, want 250", got)
	}
}

// TestRunCountsErrors: anything but 200 "success" is an error, by kind;
// chunked answers and closed connections are read correctly.
func TestRunCountsErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch n.Add(1) % 4 {
		case 0:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case 1:
			io.WriteString(w, "ok")
		case 2: // chunked
			io.WriteString(w, "succ")
			w.(http.Flusher).Flush()
			io.WriteString(w, "ess")
		case 3:
			w.Header().Set("Connection", "close")
			io.WriteString(w, "success")
		}
	}))
	defer srv.Close()
	res, err := bench.Run(context.Background(), bench.Options{URL: srv.URL + "/wechat/oa", Token: token, Concurrency: 1, Count: 40})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 40 || res.OK != 20 || res.Errors != 20 {
		t.Fatalf("sent %d, ok %d, errors %d; want 40, 20, 20 (%v)", res.Sent, res.OK, res.Errors, res.ErrorSummary())
	}
	want := map[string]int64{`status 503: "busy\n"`: 10, `200 but body "ok"`: 10}
	for k, v := range want {
		if res.ErrorKinds[k] != v {
			t.Errorf("ErrorKinds[%s] = %d, want %d (all: %v)", k, res.ErrorKinds[k], v, res.ErrorKinds)
		}
	}
}

func TestRunBadOptions(t *testing.T) {
	for _, o := range []bench.Options{
		{Token: token},
		{URL: "http://127.0.0.1:1/x"},
		{URL: "ftp://x/y", Token: token},
		{URL: "http://127.0.0.1:1/x", Token: token, AESKey: "short"},
	} {
		if _, err := bench.Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) = nil error", o)
		}
	}
}

// BenchmarkWebhook loads omo's webhook and the bare silenceper baseline with
// b.N new subscribe events from 64 connections, plaintext and safe mode.
// It reports events/s and latency percentiles next to ns/op:
//
//	go test ./bench -run '^$' -bench Webhook -benchtime 100000x
func BenchmarkWebhook(b *testing.B) {
	for _, mode := range []string{"plaintext", "safe"} {
		key := modes()[mode]
		for _, target := range []string{"omo", "baseline"} {
			b.Run(fmt.Sprintf("%s/%s", target, mode), func(b *testing.B) {
				var url string
				var o *omo
				if target == "omo" {
					o = startOmo(b, key)
					url = o.url
				} else {
					url = startBaseline(b, key)
				}
				b.ResetTimer()
				res, err := bench.Run(context.Background(), bench.Options{URL: url, Token: token, AESKey: key, AppID: appID,
					Concurrency: 64, Count: b.N})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if res.Errors != 0 {
					b.Fatalf("%d errors: %s", res.Errors, strings.Join(res.ErrorSummary(), "; "))
				}
				if o != nil {
					if got := o.stored(b); got != res.Acknowledged() {
						b.Fatalf("omo stored %d events, acknowledged %d", got, res.Acknowledged())
					}
				}
				b.ReportMetric(res.EventsPerSec, "events/s")
				b.ReportMetric(float64(res.Latency.P50.Microseconds()), "p50-µs")
				b.ReportMetric(float64(res.Latency.P99.Microseconds()), "p99-µs")
			})
		}
	}
}
