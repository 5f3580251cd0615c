package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// TestRepeatDeliverySendsOnce: a task delivered again after its item is
// finished sends nothing; while the task still exists the relay cannot
// enqueue it a second time.
func TestRepeatDeliverySendsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.follow("o1")
	it := e.addSend(t, "once", outbox.SendTemplate, outbox.Message{ToUser: "o1", TemplateID: tplCoupon}, time.Time{})
	e.sweep(t)
	if ti := e.settled(t, it.ID); ti != nil {
		t.Fatalf("task = %s (%s), want completed", ti.State, ti.LastErr)
	}
	if n := e.sweep(t); n != 0 {
		t.Errorf("Sweep after the send enqueued %d, want 0 (nothing pending)", n)
	}

	// Delivered again (a relay that crashed before it saw the commit, a
	// Redis that lost the completion): the handler finds the item done.
	for range 2 {
		_, err := e.queue.Enqueue(NewTask(it))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			t.Fatalf("Enqueue again: %v", err)
		}
		if err == nil {
			if ti := e.settled(t, it.ID); ti != nil {
				t.Fatalf("repeated task = %s (%s), want completed", ti.State, ti.LastErr)
			}
		}
	}
	if got := e.sim.CallCount(pathTemplate); got != 1 {
		t.Errorf("template calls = %d, want 1", got)
	}
	if got := e.item(t, it.ID); got.State != outbox.Done || got.Attempts != 1 {
		t.Errorf("outbox item = %s after %d attempts, want done after 1", got.State, got.Attempts)
	}
	if m := e.message(t, it.ID); m.State != outbox.MsgSent {
		t.Errorf("message = %s, want sent", m.State)
	}
}

// TestEnqueueTwiceWhileQueued: the task ID is the item's ID, so a second
// enqueue of a waiting item is refused by asynq and the relay skips it.
func TestEnqueueTwiceWhileQueued(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.follow("o1")
	it := e.addSend(t, "later", outbox.SendTemplate, outbox.Message{ToUser: "o1", TemplateID: tplCoupon}, time.Now().Add(time.Hour))
	if n := e.sweep(t); n != 1 {
		t.Fatalf("first Sweep enqueued %d, want 1", n)
	}
	if n := e.sweep(t); n != 0 {
		t.Errorf("second Sweep enqueued %d, want 0", n)
	}
	if _, err := e.queue.Enqueue(NewTask(it)); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Errorf("Enqueue of a queued item = %v, want ErrTaskIDConflict", err)
	}
	ti := e.task(t, it.ID)
	if ti == nil || ti.State != asynq.TaskStateScheduled || !ti.NextProcessAt.Equal(it.RunAt.Truncate(time.Second)) {
		t.Errorf("task = %+v, want scheduled at %s", ti, it.RunAt)
	}
	if n := e.sim.CallCount(""); n != 0 {
		t.Errorf("simulator calls = %d, want 0", n)
	}
}

// TestMessageNoLongerPendingIsNotSent: an item whose message was already
// sent (or failed) finishes without calling WeChat.
func TestMessageNoLongerPendingIsNotSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.follow("o1")
	sent := e.addSend(t, "sent", outbox.SendTemplate, outbox.Message{ToUser: "o1", TemplateID: tplCoupon}, time.Time{})
	failed := e.addSend(t, "failed", outbox.SendTemplate, outbox.Message{ToUser: "o1", TemplateID: tplCoupon}, time.Time{})
	if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		if err := tx.MarkSent(sent.ID, 42, outbox.SendTemplate, "", time.Now()); err != nil {
			return err
		}
		return tx.MarkFailed(failed.ID, 43004, "gone")
	}); err != nil {
		t.Fatal(err)
	}
	e.sweep(t)
	for _, it := range []outbox.Item{sent, failed} {
		if ti := e.settled(t, it.ID); ti != nil {
			t.Errorf("task %s = %s (%s), want completed", it.ID, ti.State, ti.LastErr)
		}
		if got := e.item(t, it.ID); got.State != outbox.Done {
			t.Errorf("outbox item %s = %s, want done", it.ID, got.State)
		}
	}
	if n := e.sim.CallCount(pathTemplate); n != 0 {
		t.Errorf("template calls = %d, want 0", n)
	}
	if m := e.message(t, sent.ID); m.State != outbox.MsgSent || *m.WeChatMsgID != 42 {
		t.Errorf("sent message changed: %s, msgid %v", m.State, m.WeChatMsgID)
	}
	if m := e.message(t, failed.ID); m.State != outbox.MsgFailed || m.Errcode != 43004 {
		t.Errorf("failed message changed: %s, errcode %d", m.State, m.Errcode)
	}
}

// TestRelayRunEnqueues: items handed to a running relay are sent.
func TestRelayRunEnqueues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.follow("o1")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); e.relay.Run(ctx) }()
	it := e.addSend(t, "handed", outbox.SendTemplate, outbox.Message{ToUser: "o1", TemplateID: tplCoupon}, time.Time{})
	e.relay.Enqueue(ctx, []outbox.Item{it, it}) // the same item twice: one task
	waitFor(t, "the handed item to be sent", func() bool { return e.item(t, it.ID).State == outbox.Done })
	cancel()
	<-done
	if got := e.sim.CallCount(pathTemplate); got != 1 {
		t.Errorf("template calls = %d, want 1", got)
	}
}

// TestSweepRevivesArchivedTask: an item still pending behind an archived
// task (its failure could not be recorded, or an operator reset the row)
// would be blocked by the task ID forever; the sweep deletes the dead task
// and the item is sent.
func TestSweepRevivesArchivedTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.follow("o1")
	it := e.addSend(t, "stuck", outbox.SendTemplate, outbox.Message{ToUser: "o1", TemplateID: tplCoupon}, time.Now().Add(time.Hour))
	if n := e.sweep(t); n != 1 {
		t.Fatalf("first Sweep enqueued %d, want 1", n)
	}
	if err := e.insp.ArchiveTask(Queue, it.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.sweep(t); n != 1 {
		t.Fatalf("Sweep after archiving enqueued %d, want 1", n)
	}
	if ti := e.task(t, it.ID); ti == nil || ti.State == asynq.TaskStateArchived {
		t.Fatalf("task after revive = %+v, want a live task", ti)
	}
}
