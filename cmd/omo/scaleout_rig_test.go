package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/xml"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat/wechatsim"
)

// The scale-out test's rig: WeChat's side of the webhook (pushes signed
// once and delivered to several instances), a simulator whose template
// sends can be slowed, `omo worker` as a child process, and the checks.

// scaleRig is what the scale-out test drives and reads.
type scaleRig struct {
	sim    *wechatsim.Sim
	db     *sqldb.DB
	sql    *sql.DB
	client *http.Client
}

// follow is what became of one follow's pushes: the instances (base URLs)
// that answered 200 with the welcome reply, one entry per copy, and what
// went wrong with the others.
type follow struct {
	openid string
	acked  []string
	failed []string
}

// ackedOnlyBy reports whether the instance at url, and no other, answered
// 200 to the follow's pushes.
func (f *follow) ackedOnlyBy(url string) bool {
	for _, a := range f.acked {
		if a != url {
			return false
		}
	}
	return len(f.acked) > 0
}

// merge adds g's answers to f's.
func (f *follow) merge(g follow) {
	f.acked = append(f.acked, g.acked...)
	f.failed = append(f.failed, g.failed...)
}

// load plays n follows (openids prefix000...) through a store's QR code,
// scaleInFlight at a time, each pushed by send, and returns them in order.
// started, if set, is called with the count of follows begun so far.
func (r *scaleRig) load(prefix string, n int, send func(i int, p sealedPush) follow, started func(int)) []follow {
	out := make([]follow, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range scaleInFlight {
		wg.Go(func() {
			for i := range next {
				openid := fmt.Sprintf("%s%03d", prefix, i)
				m := storeFollow(r.sim, openid)
				// WeChat's own state first (the follower follows), then the
				// push, which the test delivers itself.
				if _, err := r.sim.Push(context.Background(), testAppID, m); !errors.Is(err, wechatsim.ErrNoWebhook) {
					out[i] = follow{openid: openid, failed: []string{"simulator: " + fmt.Sprint(err)}}
					continue
				}
				p, err := sealPush(m)
				if err != nil {
					out[i] = follow{openid: openid, failed: []string{err.Error()}}
					continue
				}
				out[i] = send(i, p)
				out[i].openid = openid
			}
		})
	}
	for i := range n {
		next <- i
		if started != nil {
			started(i + 1)
		}
	}
	close(next)
	wg.Wait()
	return out
}

// fanOut delivers p to every URL in urls at once and reports which
// answered the welcome reply.
func (r *scaleRig) fanOut(p sealedPush, urls ...string) follow {
	results := make([]error, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() {
			got, err := r.deliver(p, u)
			if err == nil && got != welcomeReply {
				err = fmt.Errorf("answered %q, want %q", got, welcomeReply)
			}
			results[i] = err
		})
	}
	wg.Wait()
	var f follow
	for i, err := range results {
		if err != nil {
			f.failed = append(f.failed, urls[i]+": "+err.Error())
		} else {
			f.acked = append(f.acked, urls[i])
		}
	}
	return f
}

// sealedPush is a push signed and encrypted once, as WeChat does, so that
// its retries carry exactly the same query and body.
type sealedPush struct {
	query string
	body  []byte
}

// sealPush signs and encrypts m for the test OA in safe mode (FACTS.md:
// signature over token, timestamp and nonce; AES-256-CBC envelope;
// msg_signature over those and Encrypt).
func sealPush(m wechatsim.Message) (sealedPush, error) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := strconv.FormatUint(mrand.Uint64N(1e10), 10)
	random := make([]byte, 16)
	rand.Read(random)
	enc, err := wechatsim.Encrypt(testAESKey, testAppID, random, m.XML())
	if err != nil {
		return sealedPush{}, err
	}
	q := url.Values{}
	q.Set("signature", wechatsim.Signature(testToken, ts, nonce))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	q.Set("openid", m.FromUserName)
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", wechatsim.MsgSignature(testToken, ts, nonce, enc))
	var b bytes.Buffer
	b.WriteString("<xml><ToUserName><![CDATA[" + m.ToUserName + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
	return sealedPush{query: q.Encode(), body: b.Bytes()}, nil
}

// deliver posts p to the webhook of the omo at base and returns its
// answer: "success" or the text of the passive reply, whose msg_signature
// it checks and which it decrypts. Anything but 200 is an error.
func (r *scaleRig) deliver(p sealedPush, base string) (string, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/wechat/oa?"+p.query, bytes.NewReader(p.body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := r.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(resp.Body); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %q", resp.StatusCode, raw.String())
	}
	if s := strings.TrimSpace(raw.String()); s == "success" || s == "" {
		return "success", nil
	}
	var env struct{ Encrypt, MsgSignature, TimeStamp, Nonce string }
	if err := xml.Unmarshal(raw.Bytes(), &env); err != nil {
		return "", fmt.Errorf("reply %q is not XML: %w", raw.String(), err)
	}
	if env.MsgSignature != wechatsim.MsgSignature(testToken, env.TimeStamp, env.Nonce, env.Encrypt) {
		return "", fmt.Errorf("reply msg_signature does not verify")
	}
	plain, appID, err := wechatsim.Decrypt(testAESKey, env.Encrypt)
	if err != nil || appID != testAppID {
		return "", fmt.Errorf("reply does not decrypt for %s (got %q): %v", testAppID, appID, err)
	}
	var msg struct{ MsgType, Content string }
	if err := xml.Unmarshal(plain, &msg); err != nil || msg.MsgType != "text" {
		return "", fmt.Errorf("reply %q is not a text message", plain)
	}
	return msg.Content, nil
}

// pushClient is WeChat's side of the webhook: keep-alive connections to a
// few instances, and a bound on each push (WeChat gives 5 s; a loaded
// 2-core machine gets more).
func pushClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// openSQL opens omo's PostgreSQL database for the test's own queries.
func openSQL(t *testing.T, dbURL string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// waitSettled waits (bounded by d) until all n followers' welcome messages
// are sent and the outbox holds nothing pending.
func (r *scaleRig) waitSettled(t *testing.T, n int, d time.Duration) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("%d welcome messages sent and the outbox empty", n), func() (bool, error) {
		var sent, pending int
		err := r.sql.QueryRow(`SELECT
  (SELECT COUNT(*) FROM messages WHERE campaign_id = 'welcome' AND state = 'sent'),
  (SELECT COUNT(*) FROM outbox WHERE state = 'pending')`).Scan(&sent, &pending)
		return err == nil && sent == n && pending == 0, err
	})
}

// checkOnce checks that the follows fs (n of them) acted once each and
// sent once each, and that the stocks held.
func (r *scaleRig) checkOnce(t *testing.T, fs []follow, n int) {
	t.Helper()
	ctx := context.Background()
	if got, err := r.db.CountEvents(ctx); err != nil || got != n {
		t.Errorf("inbound events = %d, %v; want %d, one per follow", got, err, n)
	}
	for _, c := range []string{"welcome", "first-50"} {
		var followers, firings, most int
		err := r.sql.QueryRow(`SELECT COUNT(*), COALESCE(SUM(n), 0), COALESCE(MAX(n), 0) FROM
  (SELECT openid, COUNT(*) AS n FROM campaign_firings WHERE campaign_id = $1 GROUP BY openid) f`, c).Scan(&followers, &firings, &most)
		if err != nil || followers != n || firings != n || most != 1 {
			t.Errorf("campaign %s: %d followers fired, %d firings, at most %d per follower (%v); want %d, %d, 1",
				c, followers, firings, most, err, n, n)
		}
	}
	for _, p := range []struct {
		pool   string
		issued int
	}{{"welcome-10", n}, {"first-50", scaleStock}} {
		var rows, codes, holders int
		var stock, counted int
		err := r.sql.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT code), COUNT(DISTINCT openid),
  (SELECT stock FROM coupon_pools WHERE id = $1), (SELECT issued FROM coupon_pools WHERE id = $1)
FROM coupons WHERE pool_id = $1`, p.pool).Scan(&rows, &codes, &holders, &stock, &counted)
		if err != nil || rows != p.issued || codes != rows || holders != rows || counted != rows || counted > stock {
			t.Errorf("pool %s: %d coupons, %d codes, %d holders, pool count %d of stock %d (%v); want %d issued, each code and holder once, within stock",
				p.pool, rows, codes, holders, counted, stock, err, p.issued)
		}
	}

	msgs, err := r.messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sends := r.sim.Templates(testAppID)
	byClientID := map[string]bool{}
	perFollower := map[string]int{}
	for _, s := range sends {
		if byClientID[s.ClientMsgID] {
			t.Errorf("client_msg_id %s sent twice", s.ClientMsgID)
		}
		byClientID[s.ClientMsgID] = true
		perFollower[s.ToUser]++
		if m, ok := msgs[s.ClientMsgID]; !ok || m.openid != s.ToUser {
			t.Errorf("template send to %s with client_msg_id %q: no such welcome message to them", s.ToUser, s.ClientMsgID)
		}
	}
	if len(sends) != n {
		t.Errorf("template sends seen by WeChat = %d, want %d", len(sends), n)
	}
	for _, f := range fs {
		if got := perFollower[f.openid]; got != 1 {
			t.Errorf("%s got %d template messages, want 1", f.openid, got)
		}
	}
	for id, m := range msgs {
		if m.state != outbox.MsgSent {
			t.Errorf("welcome message %s to %s is %s, want sent", id, m.openid, m.state)
		}
	}
}

type msgState struct {
	openid string
	state  outbox.MessageState
}

// messages returns the welcome campaign's messages by id.
func (r *scaleRig) messages(ctx context.Context) (map[string]msgState, error) {
	rows, err := r.sql.QueryContext(ctx, `SELECT id, openid, state FROM messages WHERE campaign_id = 'welcome'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]msgState{}
	for rows.Next() {
		var id, openid, state string
		if err := rows.Scan(&id, &openid, &state); err != nil {
			return nil, err
		}
		out[id] = msgState{openid: openid, state: outbox.MessageState(state)}
	}
	return out, rows.Err()
}

// startWorkerProcess starts `bin worker` with exactly the environment env
// and returns once it logs "omo worker started" (bounded at 15 s): its
// relay and asynq server are running by then. Like startProcess, the
// process dies with the test binary, is killed when the test ends, and its
// output is printed if the test fails.
func startWorkerProcess(t *testing.T, bin string, env []string) *omoProc {
	t.Helper()
	p := spawn(t, bin, "worker", env)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.logs.String(), `"msg":"omo worker started"`) {
		select {
		case <-p.done:
			t.Fatalf("omo worker ended before it started: %v", p.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal(`omo worker did not log "omo worker started" within 15 s`)
		}
	}
	return p
}

// slowSends holds back WeChat's answer to template sends: after is how long
// (0 = not at all) the answer waits once the simulator has accepted the
// send; inFlight counts the sends waiting so.
type slowSends struct {
	after    atomic.Int64 // a time.Duration
	inFlight atomic.Int64
}

// newSlowSim is newSim whose template sends can be slowed (see slowSends).
func newSlowSim(t *testing.T) (*wechatsim.Sim, string, *slowSends) {
	t.Helper()
	sim := wechatsim.New(wechatsim.Options{})
	sim.AddApp(testAppID, testSecret)
	sim.AddApp(testMPAppID, testMPSecret)
	slow := &slowSends{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := time.Duration(slow.after.Load())
		if d == 0 || r.URL.Path != templateSend {
			sim.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r) // accepted and recorded now
		slow.inFlight.Add(1)
		defer slow.inFlight.Add(-1)
		select {
		case <-time.After(d):
		case <-r.Context().Done(): // the caller died waiting
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return sim, srv.URL, slow
}

// logMetrics logs what the /metrics of the omo at base says of the
// committer and the webhook after what.
func (r *scaleRig) logMetrics(t *testing.T, what, base string) {
	t.Helper()
	m, err := scrapeMetrics(base)
	if err != nil {
		t.Logf("%s: /metrics: %v", what, err)
		return
	}
	get := func(name string, kv ...string) float64 { v, _ := m.value(name, kv...); return v }
	batches := get("omo_committer_batch_size_count")
	pushes := get("omo_webhook_duration_seconds_count")
	t.Logf("%s, serve B's /metrics: %.0f committer batches of %.1f writes on average, oldest write waiting %.1f ms and the transaction taking %.1f ms on average; %.0f writes ran again after a deadlock; %.0f pushes answered in %.1f ms on average",
		what, batches, get("omo_committer_batch_size_sum")/max(batches, 1),
		1000*get("omo_committer_wait_seconds_sum")/max(batches, 1), 1000*get("omo_committer_commit_seconds_sum")/max(batches, 1),
		get("omo_committer_conflicts_total"), pushes, 1000*get("omo_webhook_duration_seconds_sum")/max(pushes, 1))
}
