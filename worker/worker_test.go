package worker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	testApp    = testenv.OAAppID
	testSecret = testenv.OASecret

	pathTemplate  = "/cgi-bin/message/template/send"
	pathCustom    = "/cgi-bin/message/custom/send"
	pathSubscribe = "/cgi-bin/message/subscribe/bizsend"
)

var discard = slog.New(slog.DiscardHandler)

// env is a worker Server started on a real redis-server, with a relay, a
// database, and the simulator behind the real WeChat client.
type env struct {
	rdb   *redis.Client
	db    *sqldb.DB
	sim   *wechatsim.Sim
	wx    *wechat.Client
	srv   *Server
	relay *Relay
	queue *asynq.Client
	insp  *asynq.Inspector
}

type envOptions struct {
	dbURL       string           // "" = a fresh SQLite file
	sendRate    int              // Options.SendRate
	concurrency int              // 0 = 4
	now         func() time.Time // the worker's clock; nil = time.Now
	wrap        func(Sender) Sender
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.dbURL == "" {
		o.dbURL = testenv.SQLiteURL(t)
	}
	if o.concurrency == 0 {
		o.concurrency = 4
	}
	rs := testenv.Redis(t)
	e := &env{rdb: redis.NewClient(&redis.Options{Addr: rs.Addr()})}
	t.Cleanup(func() { e.rdb.Close() })

	db, err := sqldb.Open(t.Context(), o.dbURL, discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.db = db

	e.sim = wechatsim.New(wechatsim.Options{})
	e.sim.AddApp(testApp, testSecret)
	hs := httptest.NewServer(e.sim)
	t.Cleanup(hs.Close)
	if e.wx, err = wechat.NewClient(wechat.Config{APIBase: hs.URL, OAAppID: testApp, OAAppSecret: testSecret}, e.rdb, discard); err != nil {
		t.Fatal(err)
	}

	wx := wechat.NewSender(e.wx, "") // the Sender and Directory omo runs with
	var sender Sender = wx
	if o.wrap != nil {
		sender = o.wrap(sender)
	}
	e.srv = NewServer(e.rdb, db, wx, sender, Options{Concurrency: o.concurrency, AppID: testApp, SendRate: o.sendRate}, discard)
	if o.now != nil {
		e.srv.now = o.now
	}
	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.srv.Shutdown)

	e.relay = NewRelay(e.rdb, db, discard)
	t.Cleanup(func() { e.relay.Close() })
	e.queue = asynq.NewClientFromRedisClient(e.rdb)
	t.Cleanup(func() { e.queue.Close() })
	e.insp = asynq.NewInspectorFromRedisClient(e.rdb)
	t.Cleanup(func() { e.insp.Close() })
	return e
}

// follow makes openid a follower of the app in the simulator.
func (e *env) follow(openid string) {
	e.sim.AddFollower(testApp, wechatsim.Follower{OpenID: openid})
}

// addSend stores a pending message and its outbox item, as the engine
// does, and returns their id. The item runs at runAt (zero: now).
func (e *env) addSend(t *testing.T, id string, kind outbox.Kind, m outbox.Message, runAt time.Time) outbox.Item {
	t.Helper()
	now := time.Now()
	if runAt.IsZero() {
		runAt = now
	}
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	it, err := outbox.New(id, kind, struct{}{}, runAt, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	row := &outbox.MessageRow{ID: id, CampaignID: "c1", OpenID: m.ToUser, Kind: kind, Payload: payload,
		State: outbox.MsgPending, CreatedAt: now}
	if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		if err := tx.AddMessage(row); err != nil {
			return err
		}
		return tx.AddOutbox(it)
	}); err != nil {
		t.Fatal(err)
	}
	return it
}

// sweep hands every pending item to the queue through the relay and
// returns how many it enqueued.
func (e *env) sweep(t *testing.T) int {
	t.Helper()
	n, err := e.relay.Sweep(t.Context(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	return n
}

func (e *env) message(t *testing.T, id string) *outbox.MessageRow {
	t.Helper()
	m, err := e.db.Message(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) item(t *testing.T, id string) *outbox.Item {
	t.Helper()
	it, err := e.db.OutboxItem(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// task returns the queue's view of the task with id, or nil once asynq
// has forgotten it (a completed task is deleted).
func (e *env) task(t *testing.T, id string) *asynq.TaskInfo {
	t.Helper()
	ti, err := e.insp.GetTaskInfo(Queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("GetTaskInfo(%s): %v", id, err)
	}
	return ti
}

// settled waits until the task of id is done with for now: completed and
// gone, archived, or waiting in the retry set.
func (e *env) settled(t *testing.T, id string) *asynq.TaskInfo {
	t.Helper()
	var ti *asynq.TaskInfo
	waitFor(t, "task "+id+" to settle", func() bool {
		ti = e.task(t, id)
		return ti == nil || ti.State == asynq.TaskStateArchived || ti.State == asynq.TaskStateRetry
	})
	return ti
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recordingSender remembers when each send started.
type recordingSender struct {
	Sender
	mu     sync.Mutex
	starts []time.Time
}

func (r *recordingSender) SendTemplate(ctx context.Context, m *outbox.Message, id string) (int64, error) {
	r.mu.Lock()
	r.starts = append(r.starts, time.Now())
	r.mu.Unlock()
	return r.Sender.SendTemplate(ctx, m, id)
}

func (r *recordingSender) times() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.starts...)
}
