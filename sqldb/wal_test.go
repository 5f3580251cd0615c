package sqldb

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/events"
)

// TestWALStaysBounded: the writer never checkpoints inside a commit, so the
// WAL keeper must both copy the WAL back in the background and have it
// started over once it is long; without the restart the WAL of this test
// grows past 100 MiB.
func TestWALStaysBounded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "omo.db")
	db, err := Open(ctx, "sqlite://"+path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	payload := []byte("<xml>" + strings.Repeat("x", 8000) + "</xml>") // three pages a push
	const writers, each = 16, 400
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var maxWAL int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > maxWAL {
				maxWAL = fi.Size()
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ev := &events.Event{Type: events.Subscribe, OpenID: fmt.Sprintf("o%02d-%04d", w, i), CreatedAt: at}
				err := db.Write(ctx, func(tx *Tx) error {
					_, _, err := tx.InsertEvent(ev, payload, at)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-watched
	if n, err := db.CountEvents(ctx); err != nil || n != writers*each {
		t.Fatalf("CountEvents = %d, %v; want %d", n, err, writers*each)
	}
	// The restart point, plus what is written while a checkpoint (fsyncs on a
	// slow disk) runs; without restarts this test passes 100 MiB.
	const limit = 5 * walRestartFrames * 4096
	if maxWAL == 0 || maxWAL > limit {
		t.Errorf("the WAL reached %d MiB, want more than 0 and at most %d MiB", maxWAL>>20, limit>>20)
	}
	t.Logf("WAL peaked at %.1f MiB", float64(maxWAL)/(1<<20))
}
