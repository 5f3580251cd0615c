package worker

import (
	"errors"
	"fmt"
	"math"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

const pathMass = "/cgi-bin/message/mass/send"

// ledger records what SendChunk reports, as the fan-out's ledger would.
type ledger struct {
	mu      sync.Mutex
	planned map[int][]string // chunk -> over budget
	ended   map[int]string   // chunk -> state
}

func (l *ledger) Planned(tx *sqldb.Tx, m *sqldb.MassSend, over []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.planned[m.Chunk]; ok {
		return fmt.Errorf("chunk %d planned twice", m.Chunk)
	}
	l.planned[m.Chunk] = over
	return nil
}

func (l *ledger) Ended(tx *sqldb.Tx, m *sqldb.MassSend) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.ended[m.Chunk]; ok {
		return fmt.Errorf("chunk %d ended twice (%s, then %s)", m.Chunk, s, m.State)
	}
	l.ended[m.Chunk] = m.State
	return nil
}

// massEnv is a Mass on a database, a fresh redis-server and the simulator
// behind the real WeChat client, with followers o1..o5.
type massEnv struct {
	db   *sqldb.DB
	sim  *wechatsim.Sim
	mass *Mass
	wx   *wechat.Client // the client Mass sends through
	led  *ledger

	mu sync.Mutex
	at time.Time // the clock of omo and the simulator
}

func (e *massEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.at
}

func (e *massEnv) move(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.at = e.at.Add(d)
}

func newMassEnv(t *testing.T, dbURL string, serviceAccount bool) *massEnv {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr()})
	t.Cleanup(func() { rdb.Close() })
	db, err := sqldb.Open(t.Context(), dbURL, discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := &massEnv{led: &ledger{planned: map[int][]string{}, ended: map[int]string{}},
		at: time.Date(2026, 12, 1, 10, 0, 10, 0, time.UTC)}
	sim := wechatsim.New(wechatsim.Options{Now: e.clock}) // one clock: WeChat's minute is omo's
	sim.AddApp(testApp, testSecret)
	for i := 1; i <= 5; i++ {
		sim.AddFollower(testApp, wechatsim.Follower{OpenID: fmt.Sprint("o", i)})
	}
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	wx, err := wechat.NewClient(wechat.Config{APIBase: hs.URL, OAAppID: testApp, OAAppSecret: testSecret}, rdb, discard)
	if err != nil {
		t.Fatal(err)
	}
	e.db, e.sim, e.wx = db, sim, wx
	e.mass = NewMass(rdb, db, wechat.NewSender(wx, ""), MassOptions{AppID: testApp, ServiceAccount: serviceAccount}, discard)
	e.mass.now = e.clock
	return e
}

func (e *massEnv) send(t *testing.T, chunk int, openids ...string) (*sqldb.MassSend, error) {
	t.Helper()
	return e.mass.SendChunk(t.Context(), MassChunk{CampaignID: "launch", SlotID: 7, Chunk: chunk, OpenIDs: openids, Text: "Double 11 at 10:00"}, e.led)
}

// spend makes openid receive n mass sends this month before the test.
func (e *massEnv) spend(t *testing.T, openid string, n int) {
	t.Helper()
	for range n {
		if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
			_, _, err := tx.TakeMassBudget([]string{openid}, MassMonth(e.clock()), MassPerMonth)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSendChunk(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			e := newMassEnv(t, d.URL, true)
			e.spend(t, "o3", MassPerMonth)
			row, err := e.send(t, 0, "o1", "o2", "o3", "o4")
			if err != nil {
				t.Fatal(err)
			}
			if row.State != sqldb.MassSent || row.MsgID == nil || row.Recipients != 3 || row.OverBudget != 1 || !clientMsgIDOf.MatchString(row.ClientMsgID) {
				t.Errorf("row = %+v, want sent to 3 with 1 over budget, a clientmsgid omo:<16 hex>:7:0", row)
			}
			sends := e.sim.MassSends(testApp)
			if len(sends) != 1 || !slices.Equal(sends[0].ToUsers, []string{"o1", "o2", "o4"}) || sends[0].ClientMsgID != row.ClientMsgID {
				t.Fatalf("sim sends = %+v, want one to o1, o2, o4", sends)
			}
			if again, err := e.send(t, 0, "o1", "o2", "o3", "o4"); err != nil || again.State != sqldb.MassSent || e.sim.CallCount(pathMass) != 1 {
				t.Errorf("second SendChunk = %+v, %v; calls %d, want the row as it was and no call", again, err, e.sim.CallCount(pathMass))
			}
			for o, want := range map[string]int{"o1": 1, "o3": MassPerMonth, "o5": 0} {
				if n, _ := e.db.MassBudgetUsed(t.Context(), o, "2026-12"); n != want {
					t.Errorf("budget used by %s = %d, want %d", o, n, want)
				}
			}
			if !slices.Equal(e.led.planned[0], []string{"o3"}) || e.led.ended[0] != sqldb.MassSent {
				t.Errorf("ledger planned %v, ended %v; want over [o3], sent", e.led.planned, e.led.ended)
			}

			// One recipient left once the budget is counted: skipped, given back.
			e.spend(t, "o2", MassPerMonth-2) // one left
			row, err = e.send(t, 1, "o2", "o3", "o5")
			if err != nil || row.State != sqldb.MassSent || row.Recipients != 2 || row.OverBudget != 1 {
				t.Fatalf("chunk 1 = %+v, %v; want sent to o2 and o5", row, err)
			}
			row, err = e.send(t, 2, "o2", "o3")
			if err != nil || row.State != sqldb.MassSkipped || !strings.Contains(row.Reason, "40130") {
				t.Errorf("chunk 2 = %+v, %v; want skipped for fewer than 2", row, err)
			}
			e.move(31 * 24 * time.Hour) // January: everyone has four again
			row, err = e.send(t, 3, "o2", "o3")
			if err != nil || row.State != sqldb.MassSent || row.Month != "2027-01" {
				t.Errorf("chunk 3 in January = %+v, %v; want sent", row, err)
			}
		})
	}
}

func TestSendChunkSubscriptionAccount(t *testing.T) {
	t.Parallel()
	e := newMassEnv(t, testenv.SQLiteURL(t), false)
	e.sim.SetMassMonthlyCap(testApp, 0)
	e.spend(t, "o1", MassPerMonth)
	row, err := e.send(t, 0, "o1", "o2")
	if err != nil || row.State != sqldb.MassSent || row.Recipients != 2 {
		t.Errorf("row = %+v, %v; want sent to both (no monthly cap)", row, err)
	}
}

func TestSendChunkRefusals(t *testing.T) {
	t.Parallel()
	e := newMassEnv(t, testenv.SQLiteURL(t), true)

	// WeChat busy: the chunk stays planned, the retry sends the same call once.
	e.sim.Inject(pathMass, -1, 1)
	if _, err := e.send(t, 0, "o1", "o2"); err == nil || isPermanent(err) {
		t.Fatalf("send during -1 = %v, want a retryable error", err)
	}
	row, err := e.send(t, 0, "o1", "o2")
	if err != nil || row.State != sqldb.MassSent {
		t.Fatalf("retry = %+v, %v", row, err)
	}
	if n, _ := e.db.MassBudgetUsed(t.Context(), "o1", "2026-12"); n != 1 {
		t.Errorf("budget after a retry = %d, want 1", n)
	}

	// Refused for good: failed, budget back, not retried.
	e.sim.Inject(pathMass, 48001, 1)
	_, err = e.send(t, 1, "o1", "o2")
	if !isPermanent(err) || wechat.Code(errors.Unwrap(err)) != 48001 {
		t.Errorf("send refused with 48001 = %v, want a permanent error", err)
	}
	row, _ = e.send(t, 1, "o1", "o2")
	if row.State != sqldb.MassFailed || row.Errcode != 48001 || e.led.ended[1] != sqldb.MassFailed {
		t.Errorf("refused chunk = %+v (ledger %v), want failed with 48001", row, e.led.ended)
	}
	if n, _ := e.db.MassBudgetUsed(t.Context(), "o1", "2026-12"); n != 1 {
		t.Errorf("budget after a refused chunk = %d, want 1 (given back)", n)
	}

	// No mass-send quota: every mass send waits until it resets.
	e.sim.Inject(pathMass, 45028, 1)
	_, err = e.send(t, 2, "o1", "o2")
	var we *waitError
	if now := e.clock(); !errors.As(err, &we) || we.wait != QuotaReset(now).Sub(now) {
		t.Fatalf("send refused with 45028 = %v, want a wait until the quota resets", err)
	}
	calls := e.sim.CallCount(pathMass)
	if _, err := e.send(t, 3, "o1", "o2"); !errors.As(err, &we) || e.sim.CallCount(pathMass) != calls {
		t.Errorf("next chunk while paused = %v, calls %d → %d; want a wait and no call", err, calls, e.sim.CallCount(pathMass))
	}

	// Bad chunks are refused before anything is recorded.
	for _, c := range []MassChunk{{SlotID: 9, Text: "x"}, {SlotID: 9, OpenIDs: []string{"o1", "o2"}}} {
		if _, err := e.mass.SendChunk(t.Context(), c, nil); !errs.Is(err, errs.Invalid) {
			t.Errorf("SendChunk(%+v) = %v, want Invalid", c, err)
		}
	}
}

// TestSendChunkAnswerLost: an earlier try's call reached WeChat but its
// answer was lost (a timeout, a crash before the row was marked), so the
// chunk is still planned. The retry sends the same clientmsgid, WeChat
// answers 45065 "clientmsgid exist" with the first send's msg_id, and the
// chunk is recorded sent with that msg_id: WeChat sent it once, omo calls
// it sent, not failed.
func TestSendChunkAnswerLost(t *testing.T) {
	t.Parallel()
	e := newMassEnv(t, testenv.SQLiteURL(t), false)
	// The first try: WeChat busy, so the chunk is recorded and stays planned
	// with its clientmsgid; then that try's call, as if it had gone through
	// and its answer was lost.
	e.sim.Inject(pathMass, -1, 1)
	if _, err := e.send(t, 0, "o1", "o2"); err == nil || isPermanent(err) {
		t.Fatalf("send during -1 = %v, want a retryable error", err)
	}
	var planned *sqldb.MassSend
	if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) (err error) { planned, err = tx.MassSendOf(7, 0); return err }); err != nil || planned.State != sqldb.MassPlanned {
		t.Fatalf("chunk after a busy WeChat = %+v, %v; want planned", planned, err)
	}
	first, _, err := e.wx.SendMass(t.Context(), wechat.MassMessage{ToUsers: []string{"o1", "o2"},
		Text: "Double 11 at 10:00", ClientMsgID: planned.ClientMsgID})
	if err != nil {
		t.Fatal(err)
	}
	row, err := e.send(t, 0, "o1", "o2")
	if err != nil || row.State != sqldb.MassSent || row.MsgID == nil || *row.MsgID != first || row.MsgDataID != nil || e.led.ended[0] != sqldb.MassSent {
		t.Fatalf("retry after a lost answer = %+v (msg_id %v, msg_data_id %v), %v (ledger %v); want sent with msg_id %d, no msg_data_id (the repeat's answer has none)",
			row, deref(row.MsgID), deref(row.MsgDataID), err, e.led.ended, first)
	}
	if n := len(e.sim.MassSends(testApp)); n != 1 {
		t.Errorf("mass sends at WeChat = %d, want 1", n)
	}
	if calls := e.sim.Calls(pathMass); len(calls) != 3 || calls[2].Errcode != 45065 || !calls[2].Dedupe {
		t.Errorf("calls = %+v, want the repeat answered 45065 and marked a dedupe", calls)
	}
}

// deref is *p, or nil.
func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// on is a Mass like m (same WeChat, rate limit and clock) on db.
func (m *Mass) on(db *sqldb.DB) *Mass {
	return &Mass{db: db, api: m.api, lim: m.lim, opts: m.opts, log: m.log, now: m.now}
}

// TestSendChunkTwoInstalls: two omo installs (two databases, a staging and
// a production) on one Official Account fire the same campaign, slot and
// chunk numbers within 24 hours: their clientmsgids differ, so WeChat
// sends both (it would answer the second 45065 and send nothing, and omo
// would take the other install's msg_id for its own).
func TestSendChunkTwoInstalls(t *testing.T) {
	t.Parallel()
	e := newMassEnv(t, testenv.SQLiteURL(t), false)
	other, err := sqldb.Open(t.Context(), testenv.SQLiteURL(t), discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if err := other.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	staging := e.mass.on(other)
	rows := make([]*sqldb.MassSend, 2)
	for i, m := range []*Mass{e.mass, staging} {
		row, err := m.SendChunk(t.Context(), MassChunk{CampaignID: "launch", SlotID: 1, Chunk: 0, OpenIDs: []string{"o1", "o2"}, Text: "hi"}, nil)
		if err != nil || row.State != sqldb.MassSent || row.MsgID == nil {
			t.Fatalf("install %d: %+v, %v; want sent", i, row, err)
		}
		rows[i] = row
	}
	if rows[0].ClientMsgID == rows[1].ClientMsgID || *rows[0].MsgID == *rows[1].MsgID {
		t.Errorf("two installs: clientmsgids %q, %q, msg_ids %d, %d; want distinct", rows[0].ClientMsgID, rows[1].ClientMsgID, *rows[0].MsgID, *rows[1].MsgID)
	}
	if n := len(e.sim.MassSends(testApp)); n != 2 {
		t.Errorf("mass sends at WeChat = %d, want 2 (one per install)", n)
	}
}

func isPermanent(err error) bool { return err != nil && permanent(err) }

// TestSendChunkRate: at most 60 mass calls a minute across processes; the
// 61st waits for the next minute instead of calling.
func TestSendChunkRate(t *testing.T) {
	t.Parallel()
	e := newMassEnv(t, testenv.SQLiteURL(t), false)
	for i := range MassPerMinute {
		if _, err := e.send(t, i, "o1", "o2"); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	_, err := e.send(t, MassPerMinute, "o1", "o2")
	var we *waitError
	if !errors.As(err, &we) || we.wait != 50*time.Second {
		t.Fatalf("61st chunk in a minute = %v, want a wait of 50s (to the next minute)", err)
	}
	if n := e.sim.CallCount(pathMass); n != MassPerMinute {
		t.Errorf("calls = %d, want %d", n, MassPerMinute)
	}
	e.move(50 * time.Second)
	if row, err := e.send(t, MassPerMinute, "o1", "o2"); err != nil || row.State != sqldb.MassSent {
		t.Errorf("in the next minute = %+v, %v", row, err)
	}
}

// clientMsgIDOf is the form of MassClientMsgID(7, 0).
var clientMsgIDOf = regexp.MustCompile(`^omo:[0-9a-f]{16}:7:0$`)

func TestMassClientMsgID(t *testing.T) {
	a, b := MassClientMsgID(7, 0), MassClientMsgID(7, 0)
	if !clientMsgIDOf.MatchString(a) || !clientMsgIDOf.MatchString(b) || a == b {
		t.Errorf("MassClientMsgID(7, 0) = %q, %q; want omo:<16 random hex>:7:0, a new one each call", a, b)
	}
	if id := MassClientMsgID(math.MaxInt64, 9999); len(id) > maxClientMsgID {
		t.Errorf("MassClientMsgID of the largest slot = %q, %d bytes; WeChat takes at most %d", id, len(id), maxClientMsgID)
	}
	if got := MassMonth(time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC)); got != "2027-01" {
		t.Errorf("MassMonth(2026-12-31 16:00 UTC) = %s, want 2027-01 (Beijing)", got)
	}
}

// TestSendChunkTwoProcesses: two processes (two Mass on two handles of one
// database) sending the same chunk at once record it once, count the
// budget once and make one send at WeChat between them.
func TestSendChunkTwoProcesses(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			e := newMassEnv(t, d.URL, true)
			other, err := sqldb.Open(t.Context(), d.URL, discard)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			second := e.mass.on(other)
			masses := []*Mass{e.mass, second}
			errs := make([]error, len(masses))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, m := range masses {
				wg.Go(func() {
					<-start
					_, errs[i] = m.SendChunk(t.Context(), MassChunk{CampaignID: "launch", SlotID: 8, Chunk: 0,
						OpenIDs: []string{"o1", "o2", "o3"}, Text: "hi"}, e.led)
				})
			}
			close(start)
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if n := len(e.sim.MassSends(testApp)); n != 1 {
				t.Errorf("sends at WeChat = %d, want 1", n)
			}
			if n, _ := e.db.MassBudgetUsed(t.Context(), "o1", "2026-12"); n != 1 {
				t.Errorf("o1's budget used = %d, want 1", n)
			}
			if len(e.led.planned) != 1 || e.led.ended[0] != sqldb.MassSent {
				t.Errorf("ledger planned %v, ended %v; want once each", e.led.planned, e.led.ended)
			}
		})
	}
}
