package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/httpapi"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The test OA (testenv's).
const (
	oaToken = testenv.OAToken
	oaKey   = testenv.OAAESKey
	oaAppID = testenv.OAAppID
	oaGh    = testenv.OAOriginalID
)

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

// forOpenID returns how many items for openid the recorder saw.
func (r *recorder) forOpenID(t *testing.T, openid string) int {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, it := range r.items {
		if payloadOpenID(t, it) == openid {
			n++
		}
	}
	return n
}

func payloadOpenID(t *testing.T, it outbox.Item) string {
	t.Helper()
	var p outbox.UserInfoPayload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		t.Fatalf("outbox item %s payload %q: %v", it.ID, it.Payload, err)
	}
	return p.OpenID
}

// server is the real Handler over httptest, on a fresh database, with a
// Pusher playing WeChat.
type server struct {
	db     *sqldb.DB
	url    string // the webhook
	base   string
	safe   bool
	queue  *recorder
	pusher *wechatsim.Pusher
}

// mode is plaintext or safe (AES) mode, on both the OA's and omo's side.
type mode struct {
	name string
	safe bool
}

var modes = []mode{{"plaintext", false}, {"aes", true}}

// eachServer runs test on a server per database engine and mode.
func eachServer(t *testing.T, test func(t *testing.T, s *server)) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			for _, d := range testenv.Databases(t) {
				t.Run(d.Name, func(t *testing.T) { test(t, newServer(t, d.URL, m.safe)) })
			}
		})
	}
}

// openDB opens and migrates the database at url; it is closed when the test ends.
func openDB(t *testing.T, url string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(t.Context(), url, discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func newServer(t *testing.T, dbURL string, safe bool) *server {
	t.Helper()
	db := openDB(t, dbURL)
	cfg := wechat.WebhookConfig{Token: oaToken}
	if safe {
		cfg.AppID, cfg.EncodingAESKey = oaAppID, oaKey
	}
	codec, err := wechat.NewCodec(cfg)
	if err != nil {
		t.Fatal(err)
	}
	q := &recorder{}
	api := httpapi.New(httpapi.Deps{
		Codec:  codec,
		Engine: engine.New(db, q, nil, discard),
		Ready:  map[string]httpapi.Checker{"database": db},
		Log:    discard,
	})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	p := &wechatsim.Pusher{URL: srv.URL + "/wechat/oa", Token: oaToken, AppID: oaAppID, Client: srv.Client()}
	if safe {
		p.EncodingAESKey = oaKey
	}
	return &server{db: db, url: p.URL, base: srv.URL, safe: safe, queue: q, pusher: p}
}

// push sends msg as WeChat does and fails t on a transport error.
func (s *server) push(t *testing.T, msg []byte) *wechatsim.Reply {
	t.Helper()
	r, err := s.pusher.Push(t.Context(), msg)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	return r
}

// post sends body with query q to the webhook and returns status and body.
func (s *server) post(t *testing.T, q url.Values, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(s.url+"?"+q.Encode(), "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *server) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(s.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// signed is the query WeChat puts on a push, signed with token.
func signed(token string) url.Values {
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "8675309"
	return url.Values{"signature": {wechatsim.Signature(token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}}
}

// sealed encrypts plain for appID with key into a safe-mode push, with a
// correct signature and msg_signature for token.
func sealed(t *testing.T, token, key, appID string, plain []byte) (url.Values, []byte) {
	t.Helper()
	enc, err := wechatsim.Encrypt(key, appID, []byte("0123456789abcdef"), plain)
	if err != nil {
		t.Fatal(err)
	}
	q := signed(token)
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", wechatsim.MsgSignature(token, q.Get("timestamp"), q.Get("nonce"), enc))
	return q, []byte("<xml><ToUserName><![CDATA[" + oaGh + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
}

// deliver sends plain the way s's mode does, bypassing Pusher's checks.
func (s *server) deliver(t *testing.T, plain []byte) (int, string) {
	t.Helper()
	if s.safe {
		q, body := sealed(t, oaToken, oaKey, oaAppID, plain)
		return s.post(t, q, body)
	}
	return s.post(t, signed(oaToken), plain)
}

// assertNothingStored checks that no event, follower or outbox item exists.
func (s *server) assertNothingStored(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	n, err := s.db.CountEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := s.db.CountFollowers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := s.db.CountOutbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || all != 0 || len(ob) != 0 {
		t.Errorf("stored %d events, %d followers, outbox %v; want nothing", n, all, ob)
	}
}

// userInfoItems returns the stored user_info items for openid.
func (s *server) userInfoItems(t *testing.T, openid string) []outbox.Item {
	t.Helper()
	items, err := s.db.PendingOutbox(context.Background(), time.Now().Add(time.Hour), "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []outbox.Item
	for _, it := range items {
		if it.Kind == outbox.UserInfo && payloadOpenID(t, it) == openid {
			out = append(out, it)
		}
	}
	return out
}

// pushCase is one message or event type as WeChat pushes it.
type pushCase struct {
	name   string
	msg    wechatsim.Message
	typ    string
	dedupe string
}

func pushCases(at time.Time) []pushCase {
	ts := strconv.FormatInt(at.Unix(), 10)
	key := func(openid, typ, eventKey string) string {
		return "e:" + openid + "|" + ts + "|" + typ + "|" + eventKey
	}
	popups := []wechatsim.PopupItem{
		{TemplateId: "tpl-1", SubscribeStatusString: "accept", PopupScene: 2},
		{TemplateId: "tpl-2", SubscribeStatusString: "reject", PopupScene: 2},
		{TemplateId: "tpl-3", SubscribeStatusString: "accept", PopupScene: 2},
	}
	return []pushCase{
		{"subscribe", wechatsim.Subscribe(oaGh, "o-subscribe", at, ""), "subscribe", key("o-subscribe", "subscribe", "")},
		{"subscribe through QR code", wechatsim.Subscribe(oaGh, "o-subscribe-qr", at, "store:sh-001"), "subscribe", key("o-subscribe-qr", "subscribe", "qrscene_store:sh-001")},
		{"unsubscribe", wechatsim.Unsubscribe(oaGh, "o-unsubscribe", at), "unsubscribe", key("o-unsubscribe", "unsubscribe", "")},
		{"SCAN", wechatsim.Scan(oaGh, "o-scan", at, "ref:AB12CD"), "SCAN", key("o-scan", "SCAN", "ref:AB12CD")},
		{"LOCATION", wechatsim.Location(oaGh, "o-location", at, 31.230416, 121.473701, 30), "LOCATION", key("o-location", "LOCATION", "")},
		{"CLICK", wechatsim.Click(oaGh, "o-click", at, "MENU_COUPONS"), "CLICK", key("o-click", "CLICK", "MENU_COUPONS")},
		{"VIEW", wechatsim.View(oaGh, "o-view", at, "https://example.com/x?a=1&b=2", "410"), "VIEW", key("o-view", "VIEW", "https://example.com/x?a=1&b=2")},
		{"view_miniprogram", wechatsim.ViewMiniprogram(oaGh, "o-mini", at, "pages/coupon/list", "411"), "view_miniprogram", key("o-mini", "view_miniprogram", "pages/coupon/list")},
		{"TEMPLATESENDJOBFINISH", wechatsim.TemplateSendJobFinish(oaGh, "o-job", at, 2907390112923893762, "success"), "TEMPLATESENDJOBFINISH", key("o-job", "TEMPLATESENDJOBFINISH", "") + "|2907390112923893762"},
		{"subscribe_msg_popup_event", wechatsim.SubscribeMsgPopupEvent(oaGh, "o-popup", at, popups), "subscribe_msg_popup_event", key("o-popup", "subscribe_msg_popup_event", "")},
		{"text", wechatsim.Text(oaGh, "o-text", at, "优惠券", 6054768590064713728), "text", "m:6054768590064713728"},
		{"location message", wechatsim.LocationMsg(oaGh, "o-locmsg", at, 31.230416, 121.473701, 15, "上海市黄浦区", 6054768590064713729), "location", "m:6054768590064713729"},
		{"image", wechatsim.Image(oaGh, "o-image", at, "http://mmbiz.qpic.cn/x.jpg", "media-1", 6054768590064713730), "image", "m:6054768590064713730"},
	}
}

func TestPushEveryType(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	eachServer(t, func(t *testing.T, s *server) {
		for _, tt := range pushCases(at) {
			t.Run(tt.name, func(t *testing.T) {
				r := s.push(t, tt.msg.XML())
				if r.Status != http.StatusOK || string(r.Raw) != "success" {
					t.Fatalf("push = %d %q, want 200 success", r.Status, r.Raw)
				}
				openid := tt.msg.FromUserName
				evs, err := s.db.EventsFor(t.Context(), openid)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != 1 {
					t.Fatalf("stored %d events for %s, want 1", len(evs), openid)
				}
				got := evs[0]
				want := sqldb.InboundEvent{ID: got.ID, DedupeKey: tt.dedupe, Type: tt.typ, OpenID: openid,
					CreatedAt: at, ReceivedAt: got.ReceivedAt, Payload: string(tt.msg.XML())}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("stored event (-want +got):\n%s", diff)
				}
				// Every push but WeChat's own delivery report is the follower acting.
				_, err = s.db.Follower(t.Context(), openid)
				if tt.typ != "TEMPLATESENDJOBFINISH" && err != nil {
					t.Errorf("follower %s: %v", openid, err)
				}
			})
		}
		if n, err := s.db.CountEvents(t.Context()); err != nil || n != len(pushCases(at)) {
			t.Errorf("CountEvents = %d, %v; want %d", n, err, len(pushCases(at)))
		}
	})
}

func TestSubscribeRecordsFirstScene(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	eachServer(t, func(t *testing.T, s *server) {
		steps := []wechatsim.Message{
			wechatsim.Subscribe(oaGh, "o1", at, "store:sh-001"),
			wechatsim.Unsubscribe(oaGh, "o1", at.Add(time.Minute)),
			wechatsim.Subscribe(oaGh, "o1", at.Add(2*time.Minute), "ref:AB12CD"),
			wechatsim.Scan(oaGh, "o1", at.Add(3*time.Minute), "store:bj-002"),
		}
		for _, m := range steps {
			if r := s.push(t, m.XML()); r.Status != http.StatusOK {
				t.Fatalf("push %s = %d %q", m.Event, r.Status, r.Raw)
			}
		}
		f, err := s.db.Follower(t.Context(), "o1")
		if err != nil {
			t.Fatal(err)
		}
		if f.FirstScene != "store:sh-001" || !f.Subscribed {
			t.Errorf("follower = %+v, want subscribed with first scene store:sh-001", f)
		}
		if n := len(s.userInfoItems(t, "o1")); n != 2 {
			t.Errorf("user_info items = %d, want 2 (one per follow)", n)
		}
	})
}

func TestURLVerification(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, s *server) {
		if echo, err := s.pusher.Verify(t.Context()); err != nil {
			t.Errorf("Verify = %q, %v; want the echostr", echo, err)
		}
		bad := map[string]url.Values{
			"wrong token":  func() url.Values { q := signed("other"); q.Set("echostr", "12345"); return q }(),
			"no signature": {"timestamp": {"1"}, "nonce": {"2"}, "echostr": {"12345"}},
		}
		for name, q := range bad {
			t.Run(name, func(t *testing.T) {
				code, body := s.get(t, "/wechat/oa?"+q.Encode())
				if code != http.StatusForbidden || strings.Contains(body, "12345") {
					t.Errorf("GET = %d %q, want 403 without the echostr", code, body)
				}
			})
		}
	})
}

// TestRejectedPushesStoreNothing: every push that fails a check is
// answered with its status and leaves the database empty.
func TestRejectedPushesStoreNothing(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	good := wechatsim.Subscribe(oaGh, "o1", at, "store:sh-001").XML()
	eachServer(t, func(t *testing.T, s *server) {
		type attempt struct {
			name string
			send func(t *testing.T) (int, string)
			want int
		}
		pushWith := func(edit func(p *wechatsim.Pusher), msg []byte) func(t *testing.T) (int, string) {
			return func(t *testing.T) (int, string) {
				p := *s.pusher
				edit(&p)
				r, err := p.Push(t.Context(), msg)
				if r == nil {
					t.Fatalf("Push: %v", err)
				}
				return r.Status, string(r.Raw)
			}
		}
		attempts := []attempt{
			{"wrong token", pushWith(func(p *wechatsim.Pusher) { p.Token = "other" }, good), http.StatusForbidden},
			{"no query", func(t *testing.T) (int, string) { return s.post(t, url.Values{}, good) }, http.StatusForbidden},
			{"timestamp changed after signing", func(t *testing.T) (int, string) {
				q := signed(oaToken)
				q.Set("timestamp", "1")
				return s.post(t, q, good)
			}, http.StatusForbidden},
			{"malformed XML", func(t *testing.T) (int, string) { return s.deliver(t, good[:len(good)/2]) }, http.StatusBadRequest},
			{"not XML", func(t *testing.T) (int, string) { return s.deliver(t, []byte("hello")) }, http.StatusBadRequest},
			{"no FromUserName", func(t *testing.T) (int, string) {
				return s.deliver(t, []byte("<xml><ToUserName>gh</ToUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>"))
			}, http.StatusBadRequest},
			{"bad CreateTime", func(t *testing.T) (int, string) {
				return s.deliver(t, bytes.Replace(good, []byte(strconv.FormatInt(at.Unix(), 10)), []byte("soon"), 1))
			}, http.StatusBadRequest},
		}
		if s.safe {
			attempts = append(attempts,
				attempt{"bad msg_signature", func(t *testing.T) (int, string) {
					q, body := sealed(t, oaToken, oaKey, oaAppID, good)
					q.Set("msg_signature", wechatsim.MsgSignature("other", q.Get("timestamp"), q.Get("nonce"), "x"))
					return s.post(t, q, body)
				}, http.StatusForbidden},
				attempt{"no msg_signature", func(t *testing.T) (int, string) {
					q, body := sealed(t, oaToken, oaKey, oaAppID, good)
					q.Del("msg_signature")
					return s.post(t, q, body)
				}, http.StatusForbidden},
				attempt{"encrypted for another appid", pushWith(func(p *wechatsim.Pusher) { p.AppID = "wxother" }, good), http.StatusBadRequest},
				attempt{"encrypted with another key", pushWith(func(p *wechatsim.Pusher) { p.EncodingAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" }, good), http.StatusBadRequest},
				attempt{"envelope not XML", func(t *testing.T) (int, string) {
					q, _ := sealed(t, oaToken, oaKey, oaAppID, good)
					return s.post(t, q, []byte("<xml><Encrypt>"))
				}, http.StatusBadRequest},
			)
		}
		for _, a := range attempts {
			t.Run(a.name, func(t *testing.T) {
				code, body := a.send(t)
				if code != a.want || body == "success" {
					t.Errorf("push = %d %q, want %d", code, body, a.want)
				}
			})
		}
		s.assertNothingStored(t)
		if got := s.queue.forOpenID(t, "o1"); got != 0 {
			t.Errorf("enqueued %d items, want none", got)
		}
		// The server is still there.
		if r := s.push(t, good); r.Status != http.StatusOK || string(r.Raw) != "success" {
			t.Errorf("good push after the rejects = %d %q, want 200 success", r.Status, r.Raw)
		}
	})
}

func TestBodyOver1MiB(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			s := newServer(t, d.URL, false)
			// A text message of exactly MaxBody bytes is read whole.
			head := wechatsim.Text(oaGh, "o-max", at, "", 1).XML()
			exact := wechatsim.Text(oaGh, "o-max", at, strings.Repeat("a", httpapi.MaxBody-len(head)), 1).XML()
			if len(exact) != httpapi.MaxBody {
				t.Fatalf("built %d bytes, want %d", len(exact), httpapi.MaxBody)
			}
			if code, body := s.post(t, signed(oaToken), exact); code != http.StatusOK || body != "success" {
				t.Fatalf("push of exactly 1 MiB = %d %q, want 200 success", code, body)
			}
			before, err := s.db.CountEvents(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, size := range []int{httpapi.MaxBody + 1, 4 * httpapi.MaxBody} {
				t.Run(strconv.Itoa(size), func(t *testing.T) {
					big := wechatsim.Text(oaGh, "o-big", at, strings.Repeat("a", size-len(head)), 2).XML()
					if code, body := s.post(t, signed(oaToken), big); code != http.StatusRequestEntityTooLarge {
						t.Errorf("push of %d bytes = %d %q, want 413", len(big), code, body)
					}
					// An unsigned one is refused just the same, unread.
					if code, _ := s.post(t, url.Values{}, big); code != http.StatusRequestEntityTooLarge && code != http.StatusForbidden {
						t.Errorf("unsigned push of %d bytes = %d, want 413 or 403", len(big), code)
					}
				})
			}
			if n, err := s.db.CountEvents(t.Context()); err != nil || n != before {
				t.Errorf("CountEvents = %d, %v; want %d (nothing more stored)", n, err, before)
			}
			if evs, err := s.db.EventsFor(t.Context(), "o-big"); err != nil || len(evs) != 0 {
				t.Errorf("events of the oversized push = %v, %v; want none", evs, err)
			}
			// The server still answers.
			if r := s.push(t, wechatsim.Click(oaGh, "o-after", at, "K").XML()); r.Status != http.StatusOK {
				t.Errorf("push after the 413s = %d %q, want 200", r.Status, r.Raw)
			}
		})
	}
}

// TestConcurrentRetriesActOnce delivers the same follow three times at
// once, as WeChat does when omo is slow: three 200s, one event, one
// follower, one user_info item, enqueued once.
func TestConcurrentRetriesActOnce(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	const rounds, copies = 8, 3
	eachServer(t, func(t *testing.T, s *server) {
		for round := range rounds {
			openid := fmt.Sprintf("o-race-%d", round)
			msg := wechatsim.Subscribe(oaGh, openid, at, "store:sh-001").XML()
			start := make(chan struct{})
			var wg sync.WaitGroup
			replies := make([]*wechatsim.Reply, copies)
			errc := make([]error, copies)
			for i := range copies {
				wg.Go(func() {
					<-start
					replies[i], errc[i] = s.pusher.Push(context.Background(), msg)
				})
			}
			close(start)
			wg.Wait()
			for i, r := range replies {
				if errc[i] != nil || r.Status != http.StatusOK || string(r.Raw) != "success" {
					t.Fatalf("round %d copy %d: %+v, %v; want 200 success", round, i, r, errc[i])
				}
			}
			evs, err := s.db.EventsFor(t.Context(), openid)
			if err != nil || len(evs) != 1 {
				t.Errorf("round %d: %d events, %v; want 1", round, len(evs), err)
			}
			f, err := s.db.Follower(t.Context(), openid)
			if err != nil || f.FirstScene != "store:sh-001" || !f.Subscribed {
				t.Errorf("round %d: follower %+v, %v; want subscribed through store:sh-001", round, f, err)
			}
			if n := len(s.userInfoItems(t, openid)); n != 1 {
				t.Errorf("round %d: %d user_info items stored, want 1", round, n)
			}
			if n := s.queue.forOpenID(t, openid); n != 1 {
				t.Errorf("round %d: enqueued %d items, want 1", round, n)
			}
		}
		if all, _, err := s.db.CountFollowers(t.Context()); err != nil || all != rounds {
			t.Errorf("CountFollowers = %d, %v; want %d", all, err, rounds)
		}
		// Two copies of each round were answered as duplicates, not failures.
		_, metrics := s.get(t, "/metrics")
		for outcome, want := range map[string]int{"handled": rounds, "duplicate": (copies - 1) * rounds} {
			line := `omo_webhook_pushes_total{outcome="` + outcome + `",type="subscribe"} ` + strconv.Itoa(want)
			if !strings.Contains(metrics, line+"\n") {
				t.Errorf("/metrics lacks %q", line)
			}
		}
	})
}

// TestRetryGetsStoredReply: a passive reply stored for a push is what its
// retry answers, encrypted and signed in safe mode (Pusher checks both).
func TestRetryGetsStoredReply(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	eachServer(t, func(t *testing.T, s *server) {
		msg := wechatsim.Text(oaGh, "o-reply", at, "coupon", 99).XML()
		if r := s.push(t, msg); r.Status != http.StatusOK || string(r.Raw) != "success" {
			t.Fatalf("first push = %d %q, want 200 success", r.Status, r.Raw)
		}
		evs, err := s.db.EventsFor(t.Context(), "o-reply")
		if err != nil || len(evs) != 1 {
			t.Fatalf("EventsFor = %v, %v", evs, err)
		}
		const text = "欢迎! <领券> & ]]> more"
		if err := s.db.Write(t.Context(), func(tx *sqldb.Tx) error { return tx.SetEventReply(evs[0].ID, text) }); err != nil {
			t.Fatal(err)
		}
		r := s.push(t, msg)
		if r.Status != http.StatusOK {
			t.Fatalf("retry = %d %q, want 200", r.Status, r.Raw)
		}
		if s.safe && bytes.Contains(r.Raw, []byte("coupon")) {
			t.Errorf("safe-mode reply is not encrypted: %s", r.Raw)
		}
		var got struct {
			ToUserName, FromUserName, MsgType, Content string
		}
		if err := xml.Unmarshal(r.Body, &got); err != nil {
			t.Fatalf("reply %q: %v", r.Body, err)
		}
		want := struct{ ToUserName, FromUserName, MsgType, Content string }{"o-reply", oaGh, "text", text}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("reply (-want +got):\n%s", diff)
		}
	})
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			s := newServer(t, d.URL, true)
			if code, body := s.get(t, "/healthz"); code != http.StatusOK {
				t.Errorf("/healthz = %d %q, want 200", code, body)
			}
			code, body := s.get(t, "/readyz")
			if code != http.StatusOK {
				t.Errorf("/readyz = %d %q, want 200", code, body)
			}
			var status map[string]string
			if err := json.Unmarshal([]byte(body), &status); err != nil || status["database"] != "ok" {
				t.Errorf("/readyz body = %q (%v), want database ok", body, err)
			}

			s.db.Close()
			code, body = s.get(t, "/readyz")
			if code != http.StatusServiceUnavailable || !strings.Contains(body, "database") {
				t.Errorf("/readyz with the database closed = %d %q, want 503 naming database", code, body)
			}
			status = nil
			if err := json.Unmarshal([]byte(body), &status); err != nil || status["database"] == "" || status["database"] == "ok" {
				t.Errorf("/readyz body = %q (%v), want the database's error", body, err)
			}
			// A push now is not acknowledged, so WeChat retries it later.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			r, err := s.pusher.Push(ctx, wechatsim.Subscribe(oaGh, "o1", time.Now(), "").XML())
			if err != nil || r.Status != http.StatusServiceUnavailable {
				t.Errorf("push with the database closed = %+v, %v; want 503", r, err)
			}
		})
	}
}

func TestWrongMethod(t *testing.T) {
	t.Parallel()
	s := newServer(t, testenv.SQLiteURL(t), false)
	req, err := http.NewRequest(http.MethodPut, s.url+"?"+signed(oaToken).Encode(), strings.NewReader("<xml/>"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT /wechat/oa = %d, want 405", resp.StatusCode)
	}
}
