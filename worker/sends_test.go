package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
)

const (
	tplCoupon   = "TPL_COUPON"
	tplFallback = "TPL_FALLBACK"
)

// TestSendOutcomes runs one send per error class through the real asynq
// server and records what became of the message, the outbox item and the
// task (DESIGN.md §6).
func TestSendOutcomes(t *testing.T) {
	t.Parallel()
	template := func(openid string) outbox.Message {
		return outbox.Message{ToUser: openid, TemplateID: tplCoupon, Data: map[string]string{"thing1": "¥10 off"}}
	}
	custom := func(fallback bool) func(string) outbox.Message {
		return func(openid string) outbox.Message {
			m := outbox.Message{ToUser: openid, Text: "Your coupon is waiting"}
			if fallback {
				m.Fallback = &outbox.Message{ToUser: openid, TemplateID: tplFallback, Data: map[string]string{"thing1": "Your coupon"}}
			}
			return m
		}
	}
	tests := []struct {
		name   string
		kind   outbox.Kind
		msg    func(openid string) outbox.Message
		follow bool                        // the openid follows the app in the simulator
		setup  func(e *env, openid string) // before the task runs

		wantMsg     outbox.MessageState
		wantCode    int
		wantKind    outbox.Kind // the kind recorded on the message
		wantItem    outbox.State
		wantAtt     int             // outbox attempts after the first try
		wantTask    asynq.TaskState // 0: completed and gone
		wantRetried int
		wantCalls   map[string]int // simulator calls per path
	}{
		{
			name: "sent", kind: outbox.SendTemplate, msg: template, follow: true,
			wantMsg: outbox.MsgSent, wantKind: outbox.SendTemplate, wantItem: outbox.Done, wantAtt: 1,
			wantCalls: map[string]int{pathTemplate: 1},
		},
		{
			name: "token expired: refreshed and sent in the same try", kind: outbox.SendTemplate, msg: template, follow: true,
			setup:   func(e *env, _ string) { e.sim.Inject(pathTemplate, 40001, 1) },
			wantMsg: outbox.MsgSent, wantKind: outbox.SendTemplate, wantItem: outbox.Done, wantAtt: 1,
			wantCalls: map[string]int{pathTemplate: 2},
		},
		{
			name: "Retry: system busy (-1)", kind: outbox.SendTemplate, msg: template, follow: true,
			setup:   func(e *env, _ string) { e.sim.Inject(pathTemplate, -1, 1) },
			wantMsg: outbox.MsgPending, wantCode: 0, wantKind: outbox.SendTemplate, wantItem: outbox.Pending, wantAtt: 1,
			wantTask: asynq.TaskStateRetry, wantRetried: 1, wantCalls: map[string]int{pathTemplate: 1},
		},
		{
			name: "Retry: HTTP 502", kind: outbox.SendTemplate, msg: template, follow: true,
			setup:   func(e *env, _ string) { e.sim.InjectStatus(pathTemplate, 502, 1) },
			wantMsg: outbox.MsgPending, wantKind: outbox.SendTemplate, wantItem: outbox.Pending, wantAtt: 1,
			wantTask: asynq.TaskStateRetry, wantRetried: 1, wantCalls: map[string]int{pathTemplate: 1},
		},
		{
			name: "Backoff: called too often (45011)", kind: outbox.SendTemplate, msg: template, follow: true,
			setup:   func(e *env, _ string) { e.sim.Inject(pathTemplate, 45011, 1) },
			wantMsg: outbox.MsgPending, wantKind: outbox.SendTemplate, wantItem: outbox.Pending, wantAtt: 1,
			wantTask: asynq.TaskStateRetry, wantRetried: 1, wantCalls: map[string]int{pathTemplate: 1},
		},
		{
			name: "Quota: daily quota spent (45009)", kind: outbox.SendTemplate, msg: template, follow: true,
			setup:   func(e *env, _ string) { e.sim.Inject(pathTemplate, 45009, 1) },
			wantMsg: outbox.MsgPending, wantKind: outbox.SendTemplate, wantItem: outbox.Pending, wantAtt: 0,
			wantTask: asynq.TaskStateRetry, wantRetried: 0, wantCalls: map[string]int{pathTemplate: 1},
		},
		{
			name: "custom message inside the service window", kind: outbox.SendCustom, msg: custom(true), follow: true,
			wantMsg: outbox.MsgSent, wantKind: outbox.SendCustom, wantItem: outbox.Done, wantAtt: 1,
			wantCalls: map[string]int{pathCustom: 1, pathTemplate: 0},
		},
		{
			name: "Fallback: window closed (45015), fallback template sent", kind: outbox.SendCustom, msg: custom(true), follow: true,
			setup:   func(e *env, openid string) { e.sim.SetCSWindow(testApp, openid, false) },
			wantMsg: outbox.MsgSent, wantKind: outbox.SendTemplate, wantItem: outbox.Done, wantAtt: 1,
			wantCalls: map[string]int{pathCustom: 1, pathTemplate: 1},
		},
		{
			name: "Fallback: quota used up (45047), fallback template sent", kind: outbox.SendCustom, msg: custom(true), follow: true,
			setup:   func(e *env, _ string) { e.sim.Inject(pathCustom, 45047, 1) },
			wantMsg: outbox.MsgSent, wantKind: outbox.SendTemplate, wantItem: outbox.Done, wantAtt: 1,
			wantCalls: map[string]int{pathCustom: 1, pathTemplate: 1},
		},
		{
			name: "Fallback without a fallback template: failed", kind: outbox.SendCustom, msg: custom(false), follow: true,
			setup:   func(e *env, openid string) { e.sim.SetCSWindow(testApp, openid, false) },
			wantMsg: outbox.MsgFailed, wantCode: 45015, wantKind: outbox.SendCustom, wantItem: outbox.Failed, wantAtt: 1,
			wantTask: asynq.TaskStateArchived, wantCalls: map[string]int{pathCustom: 1, pathTemplate: 0},
		},
		{
			name: "Stop: not a follower (43004)", kind: outbox.SendTemplate, msg: template, follow: false,
			wantMsg: outbox.MsgFailed, wantCode: 43004, wantKind: outbox.SendTemplate, wantItem: outbox.Failed, wantAtt: 1,
			wantTask: asynq.TaskStateArchived, wantCalls: map[string]int{pathTemplate: 1},
		},
		{
			name: "Stop: no subscribe consent (43101)", kind: outbox.SendSubscribe, msg: template, follow: true,
			wantMsg: outbox.MsgFailed, wantCode: 43101, wantKind: outbox.SendSubscribe, wantItem: outbox.Failed, wantAtt: 1,
			wantTask: asynq.TaskStateArchived, wantCalls: map[string]int{pathSubscribe: 1},
		},
		{
			name: "Config: invalid template_id (40037)", kind: outbox.SendTemplate, msg: template, follow: true,
			setup:   func(e *env, _ string) { e.sim.Inject(pathTemplate, 40037, 1) },
			wantMsg: outbox.MsgFailed, wantCode: 40037, wantKind: outbox.SendTemplate, wantItem: outbox.Failed, wantAtt: 1,
			wantTask: asynq.TaskStateArchived, wantCalls: map[string]int{pathTemplate: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			const openid = "o-follower"
			if tt.follow {
				e.follow(openid)
			}
			if tt.setup != nil {
				tt.setup(e, openid)
			}
			const id = "msg-1"
			e.addSend(t, id, tt.kind, tt.msg(openid), time.Time{})
			before := time.Now()
			if n := e.sweep(t); n != 1 {
				t.Fatalf("Sweep enqueued %d items, want 1", n)
			}
			ti := e.settled(t, id)
			after := time.Now()

			m, it := e.message(t, id), e.item(t, id)
			if m.State != tt.wantMsg || m.Errcode != tt.wantCode || m.Kind != tt.wantKind {
				t.Errorf("message = state %s, errcode %d, kind %s; want %s, %d, %s (reason %q)",
					m.State, m.Errcode, m.Kind, tt.wantMsg, tt.wantCode, tt.wantKind, m.Reason)
			}
			if it.State != tt.wantItem || it.Attempts != tt.wantAtt {
				t.Errorf("outbox item = %s after %d attempts, want %s after %d (last error %q)", it.State, it.Attempts, tt.wantItem, tt.wantAtt, it.LastError)
			}
			switch {
			case tt.wantTask == 0 && ti != nil:
				t.Errorf("task is %s (retried %d), want it completed", ti.State, ti.Retried)
			case tt.wantTask != 0 && ti == nil:
				t.Errorf("task completed, want it %s", tt.wantTask)
			case ti != nil && (ti.State != tt.wantTask || ti.Retried != tt.wantRetried):
				t.Errorf("task = %s, retried %d; want %s, retried %d", ti.State, ti.Retried, tt.wantTask, tt.wantRetried)
			}
			for path, want := range tt.wantCalls {
				if got := e.sim.CallCount(path); got != want {
					t.Errorf("calls to %s = %d, want %d", path, got, want)
				}
			}
			switch tt.wantMsg {
			case outbox.MsgSent:
				checkSent(t, e, m, tt.kind, tt.wantKind)
			case outbox.MsgFailed:
				if m.SentAt != nil || !strings.Contains(m.Reason, "errcode=") || it.LastError != m.Reason {
					t.Errorf("failed message: sent_at %v, reason %q, outbox last_error %q; want no sent_at and the WeChat error as both", m.SentAt, m.Reason, it.LastError)
				}
			}
			if ti == nil || ti.State != asynq.TaskStateRetry {
				return
			}
			// A retry is scheduled by retryDelay: asynq stores whole seconds.
			var wait time.Duration
			switch {
			case tt.wantRetried == 0: // a wait, not a failure
				wait = QuotaReset(after).Sub(after)
			case strings.HasPrefix(tt.name, "Backoff"):
				wait = time.Minute
			default:
				wait = 5 * time.Second
			}
			lo, hi := before.Add(wait).Add(-time.Second), after.Add(wait).Add(time.Second)
			if tt.wantRetried == 0 {
				lo = after.Add(wait).Add(-5 * time.Second)
			}
			if ti.NextProcessAt.Before(lo) || ti.NextProcessAt.After(hi) {
				t.Errorf("next try at %s, want between %s and %s (%s after the failure)", ti.NextProcessAt, lo, hi, wait)
			}
			if tt.wantRetried == 0 {
				return
			}
			// Run the retry now instead of waiting for it: it sends.
			if err := e.insp.RunTask(Queue, id); err != nil {
				t.Fatalf("RunTask: %v", err)
			}
			if ti := e.settled(t, id); ti != nil {
				t.Fatalf("retried task is %s (%s), want it completed", ti.State, ti.LastErr)
			}
			m = e.message(t, id)
			if m.State != outbox.MsgSent || m.Errcode != 0 {
				t.Errorf("after the retry the message is %s (errcode %d), want sent", m.State, m.Errcode)
			}
			if it := e.item(t, id); it.State != outbox.Done || it.Attempts != 2 {
				t.Errorf("after the retry the outbox item is %s after %d attempts, want done after 2", it.State, it.Attempts)
			}
			if got := len(e.sim.Templates(testApp)); got != 1 {
				t.Errorf("template messages delivered = %d, want 1", got)
			}
		})
	}
}

// checkSent checks a sent message against what the simulator accepted.
func checkSent(t *testing.T, e *env, m *outbox.MessageRow, queued, sent outbox.Kind) {
	t.Helper()
	if m.SentAt == nil {
		t.Errorf("sent message has no sent_at")
	}
	if sent != outbox.SendTemplate {
		if m.WeChatMsgID != nil {
			t.Errorf("%s message has wechat_msgid %d, want none", sent, *m.WeChatMsgID)
		}
		if got := len(e.sim.Customs(testApp)); got != 1 {
			t.Errorf("customer-service messages delivered = %d, want 1", got)
		}
		return
	}
	tpls := e.sim.Templates(testApp)
	if len(tpls) != 1 {
		t.Fatalf("template messages delivered = %d, want 1", len(tpls))
	}
	want := tplCoupon
	if queued == outbox.SendCustom {
		want = tplFallback
		if got := len(e.sim.Customs(testApp)); got != 0 {
			t.Errorf("customer-service messages delivered = %d, want 0 (the window was closed)", got)
		}
	}
	if tpls[0].TemplateID != want || tpls[0].ClientMsgID != m.ID {
		t.Errorf("delivered template %s with client_msg_id %q, want %s with the message id %q", tpls[0].TemplateID, tpls[0].ClientMsgID, want, m.ID)
	}
	if m.WeChatMsgID == nil || *m.WeChatMsgID != tpls[0].MsgID {
		t.Errorf("wechat_msgid = %v, want %d (the simulator's msgid)", m.WeChatMsgID, tpls[0].MsgID)
	}
}

// TestSendOutcomesPostgres: the Stop and Fallback outcomes write the same
// rows on PostgreSQL.
func TestSendOutcomesPostgres(t *testing.T) {
	t.Parallel()
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("no PostgreSQL")
	}
	e := newEnv(t, envOptions{dbURL: dbs[1].URL})
	e.follow("o-fb")
	e.sim.SetCSWindow(testApp, "o-fb", false)
	e.addSend(t, "fb", outbox.SendCustom, outbox.Message{ToUser: "o-fb", Text: "hi",
		Fallback: &outbox.Message{ToUser: "o-fb", TemplateID: tplFallback}}, time.Time{})
	e.addSend(t, "gone", outbox.SendTemplate, outbox.Message{ToUser: "o-gone", TemplateID: tplCoupon}, time.Time{})
	e.sweep(t)
	e.settled(t, "fb")
	e.settled(t, "gone")
	if m := e.message(t, "fb"); m.State != outbox.MsgSent || m.Kind != outbox.SendTemplate || m.WeChatMsgID == nil {
		t.Errorf("fallback message = %s, kind %s, msgid %v; want sent as send:template with a msgid", m.State, m.Kind, m.WeChatMsgID)
	}
	if m := e.message(t, "gone"); m.State != outbox.MsgFailed || m.Errcode != 43004 {
		t.Errorf("message to a non-follower = %s, errcode %d; want failed, 43004", m.State, m.Errcode)
	}
	if it := e.item(t, "gone"); it.State != outbox.Failed {
		t.Errorf("outbox item = %s, want failed", it.State)
	}
}

// TestQuotaPausesKind: 45009 pauses that kind of send until the quota
// resets (midnight, Beijing), in Redis for every worker; the message waits
// and no failure is counted; other kinds still go.
func TestQuotaPausesKind(t *testing.T) {
	t.Parallel()
	// 23:00 in Beijing: the quota resets in an hour.
	clock := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	reset := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
	e := newEnv(t, envOptions{now: func() time.Time { return clock }})
	e.follow("o1")
	e.sim.Inject(pathTemplate, 45009, 1)

	e.addSend(t, "first", outbox.SendTemplate, outbox.Message{ToUser: "o1", TemplateID: tplCoupon}, time.Time{})
	e.sweep(t)
	if ti := e.settled(t, "first"); ti == nil || ti.State != asynq.TaskStateRetry || ti.Retried != 0 {
		t.Fatalf("task after 45009 = %+v, want waiting in retry with no failure counted", ti)
	}
	key := "omo:" + testApp + ":pause:" + string(outbox.SendTemplate)
	val, err := e.rdb.Get(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("pause key %s: %v", key, err)
	}
	if val != reset.Format(time.RFC3339) {
		t.Errorf("pause key = %q, want %q", val, reset.Format(time.RFC3339))
	}
	if ttl := e.rdb.PTTL(t.Context(), key).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("pause key TTL = %s, want just under 1h (until the reset)", ttl)
	}
	if m := e.message(t, "first"); m.State != outbox.MsgPending || m.Errcode != 0 {
		t.Errorf("message = %s, errcode %d; want pending, 0", m.State, m.Errcode)
	}
	if it := e.item(t, "first"); it.State != outbox.Pending || it.Attempts != 0 || it.LastError != "" {
		t.Errorf("outbox item = %s, %d attempts, last error %q; want pending with nothing counted", it.State, it.Attempts, it.LastError)
	}

	// Another template send waits without calling WeChat; a custom message goes.
	e.addSend(t, "second", outbox.SendTemplate, outbox.Message{ToUser: "o1", TemplateID: tplCoupon}, time.Time{})
	e.addSend(t, "custom", outbox.SendCustom, outbox.Message{ToUser: "o1", Text: "hello"}, time.Time{})
	e.sweep(t)
	if ti := e.settled(t, "second"); ti == nil || ti.State != asynq.TaskStateRetry || ti.Retried != 0 {
		t.Errorf("second template task = %+v, want waiting in retry with no failure counted", ti)
	} else if min := time.Now().Add(59 * time.Minute); ti.NextProcessAt.Before(min) {
		t.Errorf("second template task runs at %s, want after the pause ends (after %s)", ti.NextProcessAt, min)
	}
	if ti := e.settled(t, "custom"); ti != nil {
		t.Errorf("custom task = %s (%s), want it completed", ti.State, ti.LastErr)
	}
	if got := e.sim.CallCount(pathTemplate); got != 1 {
		t.Errorf("template calls = %d, want 1 (the paused kind is not called)", got)
	}
	if m := e.message(t, "custom"); m.State != outbox.MsgSent {
		t.Errorf("custom message = %s, want sent (only template sends are paused)", m.State)
	}

	// The quota resets: both template sends go.
	e.rdb.Del(t.Context(), key)
	for _, id := range []string{"first", "second"} {
		if err := e.insp.RunTask(Queue, id); err != nil {
			t.Fatalf("RunTask(%s): %v", id, err)
		}
	}
	for _, id := range []string{"first", "second"} {
		if ti := e.settled(t, id); ti != nil {
			t.Errorf("task %s after the reset = %s (%s), want completed", id, ti.State, ti.LastErr)
		}
		if m := e.message(t, id); m.State != outbox.MsgSent {
			t.Errorf("message %s after the reset = %s, want sent", id, m.State)
		}
	}
}

// TestLastRetryFailsMessage: when the retries are used up, a retryable
// error fails the message for good with its errcode.
func TestLastRetryFailsMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.follow("o1")
	e.sim.Inject(pathTemplate, -1, 1)
	it := e.addSend(t, "last", outbox.SendTemplate, outbox.Message{ToUser: "o1", TemplateID: tplCoupon}, time.Time{})
	// The same task as NewTask's, with no retries left.
	if _, err := e.queue.Enqueue(asynq.NewTask(string(it.Kind), []byte(it.ID), asynq.TaskID(it.ID), asynq.Queue(Queue), asynq.MaxRetry(0))); err != nil {
		t.Fatal(err)
	}
	if ti := e.settled(t, it.ID); ti == nil || ti.State != asynq.TaskStateArchived {
		t.Fatalf("task = %+v, want archived", ti)
	}
	if m := e.message(t, it.ID); m.State != outbox.MsgFailed || m.Errcode != -1 {
		t.Errorf("message = %s, errcode %d; want failed, -1", m.State, m.Errcode)
	}
	if got := e.item(t, it.ID); got.State != outbox.Failed || got.Attempts != 1 {
		t.Errorf("outbox item = %s after %d attempts, want failed after 1", got.State, got.Attempts)
	}
}

// TestUnknownItemDropped: a task whose outbox item does not exist is
// archived without calling WeChat.
func TestUnknownItemDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	if _, err := e.queue.Enqueue(NewTask(outbox.Item{ID: "ghost", Kind: outbox.SendTemplate, RunAt: time.Now()})); err != nil {
		t.Fatal(err)
	}
	if ti := e.settled(t, "ghost"); ti == nil || ti.State != asynq.TaskStateArchived || ti.Retried != 0 {
		t.Errorf("task = %+v, want archived at once", ti)
	}
	if n := e.sim.CallCount(""); n != 0 {
		t.Errorf("simulator calls = %d, want 0", n)
	}
}
