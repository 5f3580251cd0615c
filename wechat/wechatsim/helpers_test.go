package wechatsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
)

// The apps every env has (testenv's).
const (
	testApp    = testenv.OAAppID
	testSecret = testenv.OASecret
	testMP     = testenv.MPAppID
	testMPKey  = testenv.MPSecret
)

// env is a Sim behind a real HTTP server with one OA and one mini-program.
type env struct {
	t   *testing.T
	sim *Sim
	srv *httptest.Server
	clk *testenv.Clock
}

func newEnv(t *testing.T, opts ...func(*Options)) *env {
	t.Helper()
	clk := testenv.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	o := Options{Now: clk.Now}
	for _, f := range opts {
		f(&o)
	}
	sim := New(o)
	sim.AddApp(testApp, testSecret)
	sim.AddApp(testMP, testMPKey)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return &env{t: t, sim: sim, srv: srv, clk: clk}
}

// res is one HTTP answer.
type res struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// errcode returns the answer's errcode (0 when absent).
func (r res) errcode() int {
	if v, ok := r.json["errcode"].(float64); ok {
		return int(v)
	}
	return 0
}

func (r res) str(k string) string {
	s, _ := r.json[k].(string)
	return s
}

func (e *env) do(method, path string, q url.Values, body any) res {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	u := e.srv.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := res{status: resp.StatusCode, header: resp.Header, body: b}
	json.Unmarshal(b, &r.json)
	return r
}

func (e *env) get(path string, q url.Values) res { return e.do(http.MethodGet, path, q, nil) }

func (e *env) post(path string, q url.Values, body any) res {
	return e.do(http.MethodPost, path, q, body)
}

// token fetches a fresh classic token for appID.
func (e *env) token(appID, secret string) string {
	e.t.Helper()
	r := e.get("/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {appID}, "secret": {secret}})
	tok := r.str("access_token")
	if tok == "" {
		e.t.Fatalf("token: %s", r.body)
	}
	return tok
}

// call posts body to an authenticated path with a fresh OA token.
func (e *env) call(path string, body any) res {
	e.t.Helper()
	return e.post(path, at(e.token(testApp, testSecret)), body)
}

func at(token string) url.Values { return url.Values{"access_token": {token}} }
