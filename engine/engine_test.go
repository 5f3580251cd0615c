package engine_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var discard = slog.New(slog.DiscardHandler)

// recorder is an engine.Enqueuer that remembers what it was handed.
type recorder struct {
	mu    sync.Mutex
	items []outbox.Item
}

func (r *recorder) Enqueue(_ context.Context, items []outbox.Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, items...)
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, it := range r.items {
		ids = append(ids, it.ID)
	}
	slices.Sort(ids)
	return ids
}

// env is an Engine on a fresh database, with its clock and queue.
type env struct {
	db    *sqldb.DB
	eng   *engine.Engine
	queue *recorder
	now   time.Time
}

// eachDB runs test against an Engine on SQLite and on PostgreSQL.
func eachDB(t *testing.T, test func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			db, err := sqldb.Open(t.Context(), d.URL, discard)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			e := &env{db: db, queue: &recorder{}, now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
			e.eng = engine.New(db, e.queue, func() time.Time { return e.now }, discard)
			test(t, e)
		})
	}
}

func (e *env) handle(t *testing.T, ev *events.Event) engine.Result {
	t.Helper()
	res, err := e.eng.Handle(t.Context(), ev, []byte("<xml>"+string(ev.Type)+"</xml>"))
	if err != nil {
		t.Fatalf("Handle(%s %s): %v", ev.Type, ev.OpenID, err)
	}
	return res
}

// userInfoItems returns the ids of the stored user_info items for openid.
func (e *env) userInfoItems(t *testing.T, openid string) []string {
	t.Helper()
	items, err := e.db.PendingOutbox(t.Context(), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, it := range items {
		var p outbox.UserInfoPayload
		if err := json.Unmarshal(it.Payload, &p); err != nil {
			t.Fatalf("outbox item %s payload %q: %v", it.ID, it.Payload, err)
		}
		if it.Kind == outbox.UserInfo && p.OpenID == openid {
			ids = append(ids, it.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func subscribe(openid string, at time.Time, scene string) *events.Event {
	ev := &events.Event{Type: events.Subscribe, ToUser: "gh_x", OpenID: openid, CreatedAt: at}
	if scene != "" {
		ev.EventKey, ev.Ticket = "qrscene_"+scene, "gQticket"
	}
	return ev
}

func unsubscribe(openid string, at time.Time) *events.Event {
	return &events.Event{Type: events.Unsubscribe, ToUser: "gh_x", OpenID: openid, CreatedAt: at}
}

func TestHandleDuplicateReturnsStoredReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   *events.Event
	}{
		{"text message", &events.Event{Type: events.Text, IsMessage: true, OpenID: "o-text", CreatedAt: t0, MsgID: 6054768590064713728, Content: "coupon"}},
		{"subscribe", subscribe("o-sub", t0, "store:sh-001")},
		{"click", &events.Event{Type: events.Click, OpenID: "o-click", CreatedAt: t0, EventKey: "MENU_COUPONS"}},
	}
	eachDB(t, func(t *testing.T, e *env) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				first := e.handle(t, tt.ev)
				if first.Duplicate || first.EventID == 0 || first.Reply != "" {
					t.Fatalf("first Handle = %+v, want a new event and no reply", first)
				}
				followerBefore, err := e.db.Follower(t.Context(), tt.ev.OpenID)
				if err != nil {
					t.Fatal(err)
				}
				queued := e.queue.ids()

				// A retry before any reply was recorded.
				e.now = e.now.Add(5 * time.Second)
				if got, want := e.handle(t, tt.ev), (engine.Result{Duplicate: true, EventID: first.EventID}); got != want {
					t.Errorf("retry Handle = %+v, want %+v", got, want)
				}

				// What a campaign's passive reply would have stored.
				if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
					return tx.SetEventReply(first.EventID, "欢迎光临 "+tt.name)
				}); err != nil {
					t.Fatal(err)
				}
				for i := range 3 { // WeChat retries three times
					e.now = e.now.Add(5 * time.Second)
					retry := *tt.ev
					got := e.handle(t, &retry)
					want := engine.Result{Reply: "欢迎光临 " + tt.name, Duplicate: true, EventID: first.EventID}
					if got != want {
						t.Errorf("retry %d Handle = %+v, want %+v", i+1, got, want)
					}
				}

				followerAfter, err := e.db.Follower(t.Context(), tt.ev.OpenID)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(followerBefore, followerAfter); diff != "" {
					t.Errorf("retries changed the follower (-before +after):\n%s", diff)
				}
				if diff := cmp.Diff(queued, e.queue.ids()); diff != "" {
					t.Errorf("retries enqueued work (-before +after):\n%s", diff)
				}
				evs, err := e.db.EventsFor(t.Context(), tt.ev.OpenID)
				if err != nil || len(evs) != 1 {
					t.Errorf("EventsFor = %d events, %v; want 1", len(evs), err)
				}
			})
		}
	})
}

// TestFollowUnfollowRefollow plays one follower through a store QR code,
// an unfollow, a refollow through a referral code and a later scan: the
// first scene stays the store's, and each follow asks user/info once.
func TestFollowUnfollowRefollow(t *testing.T) {
	t.Parallel()
	const who = "o-cycle"
	t1, t2, t3, t4 := t0, t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	steps := []struct {
		name      string
		ev        *events.Event
		want      followers.Follower
		userInfos int // user_info items stored so far
	}{
		{"follow through a store code", subscribe(who, t1, "store:sh-001"),
			followers.Follower{OpenID: who, Subscribed: true, SubscribedAt: &t1, FirstSeenAt: t1, FirstScene: "store:sh-001", HomeStore: "sh-001", LastEventAt: t1}, 1},
		{"unfollow", unsubscribe(who, t2),
			followers.Follower{OpenID: who, Subscribed: false, SubscribedAt: &t1, UnsubscribedAt: &t2, FirstSeenAt: t1, FirstScene: "store:sh-001", HomeStore: "sh-001", LastEventAt: t2}, 1},
		{"refollow through a referral code", subscribe(who, t3, "ref:AB12CD"),
			followers.Follower{OpenID: who, Subscribed: true, SubscribedAt: &t3, UnsubscribedAt: &t2, FirstSeenAt: t1, FirstScene: "store:sh-001", HomeStore: "sh-001", LastEventAt: t3}, 2},
		{"scan another store", &events.Event{Type: events.Scan, OpenID: who, CreatedAt: t4, EventKey: "store:bj-002"},
			followers.Follower{OpenID: who, Subscribed: true, SubscribedAt: &t3, UnsubscribedAt: &t2, FirstSeenAt: t1, FirstScene: "store:sh-001", HomeStore: "sh-001", LastEventAt: t4}, 2},
	}
	eachDB(t, func(t *testing.T, e *env) {
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				if res := e.handle(t, st.ev); res.Duplicate {
					t.Fatalf("Handle = %+v, want a new event", res)
				}
				got, err := e.db.Follower(t.Context(), who)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(&st.want, got); diff != "" {
					t.Errorf("follower (-want +got):\n%s", diff)
				}
				stored := e.userInfoItems(t, who)
				if len(stored) != st.userInfos {
					t.Errorf("user_info items = %d, want %d", len(stored), st.userInfos)
				}
				if diff := cmp.Diff(stored, e.queue.ids()); diff != "" {
					t.Errorf("enqueued items differ from stored ones (-stored +enqueued):\n%s", diff)
				}
			})
		}
	})
}

// TestUserInfoOnEveryFollowWithoutUnionID: a follow by someone whose
// unionid omo does not know writes exactly one user_info item; nothing else
// does.
func TestUserInfoOnEveryFollowWithoutUnionID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		unionid string // known before the pushes
		pushes  []*events.Event
		want    int
	}{
		{"follow", "", []*events.Event{subscribe("o1", t0, "")}, 1},
		{"follow through a QR code", "", []*events.Event{subscribe("o1", t0, "store:sh-001")}, 1},
		{"follow retried by WeChat", "", []*events.Event{subscribe("o1", t0, ""), subscribe("o1", t0, ""), subscribe("o1", t0, "")}, 1},
		{"follow, unfollow, follow", "", []*events.Event{subscribe("o1", t0, ""), unsubscribe("o1", t0.Add(time.Minute)), subscribe("o1", t0.Add(2*time.Minute), "")}, 2},
		{"two follows in one second", "", []*events.Event{subscribe("o1", t0, "store:a"), subscribe("o1", t0, "store:b")}, 2},
		{"unionid already known", "u1", []*events.Event{subscribe("o1", t0, "")}, 0},
		{"unfollow of someone unknown", "", []*events.Event{unsubscribe("o1", t0)}, 0},
		{"scan", "", []*events.Event{{Type: events.Scan, OpenID: "o1", CreatedAt: t0, EventKey: "store:a"}}, 0},
		{"text from someone unknown", "", []*events.Event{{Type: events.Text, IsMessage: true, OpenID: "o1", CreatedAt: t0, MsgID: 1}}, 0},
		{"location", "", []*events.Event{{Type: events.Location, OpenID: "o1", CreatedAt: t0, Lat: 31.2, Lng: 121.4}}, 0},
	}
	eachDB(t, func(t *testing.T, e *env) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// A different openid per case keeps the cases apart in one database.
				openid := "case" + string(rune('A'+i))
				if tt.unionid != "" {
					if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
						if err := tx.SaveFollower(&followers.Follower{OpenID: openid, FirstSeenAt: t0.Add(-time.Hour), LastEventAt: t0.Add(-time.Hour)}); err != nil {
							return err
						}
						return tx.SetUnionID(openid, tt.unionid)
					}); err != nil {
						t.Fatal(err)
					}
				}
				before := len(e.queue.ids())
				for _, ev := range tt.pushes {
					ev := *ev
					ev.OpenID = openid
					e.handle(t, &ev)
				}
				stored := e.userInfoItems(t, openid)
				if len(stored) != tt.want {
					t.Errorf("user_info items for %s = %d, want %d", openid, len(stored), tt.want)
				}
				if got := len(e.queue.ids()) - before; got != tt.want {
					t.Errorf("items enqueued = %d, want %d", got, tt.want)
				}
			})
		}
	})
}

func TestHandleFailsWhenDatabaseIsGone(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.db.Close()
		res, err := e.eng.Handle(t.Context(), subscribe("o1", t0, ""), []byte("<xml/>"))
		if err == nil {
			t.Fatalf("Handle on a closed database = %+v, nil; want an error", res)
		}
		if got := e.queue.ids(); len(got) != 0 {
			t.Errorf("enqueued %v after a failed Handle, want nothing", got)
		}
	})
}

func TestHandleWithoutQueue(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		eng := engine.New(e.db, nil, nil, discard)
		res, err := eng.Handle(t.Context(), subscribe("o-nil", t0, ""), nil)
		if err != nil || res.Duplicate {
			t.Fatalf("Handle with a nil Enqueuer = %+v, %v; want a new event", res, err)
		}
		if n := len(e.userInfoItems(t, "o-nil")); n != 1 {
			t.Errorf("user_info items = %d, want 1 (pending for the relay)", n)
		}
	})
}
