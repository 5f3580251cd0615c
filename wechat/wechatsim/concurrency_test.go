package wechatsim

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestConcurrentUse hammers the Sim from many goroutines through HTTP and
// its Go methods at once; run with -race.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("success")) }))
	defer hook.Close()
	e.sim.SetWebhook(testApp, &Pusher{URL: hook.URL, Token: "t"})
	e.sim.SetJobFinish(testApp, "success")
	const workers, perWorker = 16, 20
	for i := range workers {
		e.sim.AddFollower(testApp, Follower{OpenID: fmt.Sprintf("o%d", i)})
	}
	tok := e.token(testApp, testSecret)
	// Stable tokens are fetched concurrently too; they never invalidate tok.
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			openid := fmt.Sprintf("o%d", i)
			for j := range perWorker {
				r := e.post(tmplPath, at(tok), tmpl(openid, fmt.Sprintf("c%d", j%5), map[string]string{"thing1": "x"}))
				if r.errcode() != 0 {
					t.Errorf("send: %s", r.body)
					return
				}
				e.post("/cgi-bin/stable_token", nil, map[string]any{"grant_type": "client_credential", "appid": testApp, "secret": testSecret})
				e.sim.Push(context.Background(), testApp, Text("", openid, e.clk.Now(), "hi", int64(j)))
				e.sim.AddFollower(testApp, Follower{OpenID: fmt.Sprintf("x%d-%d", i, j)})
				_ = e.sim.Calls(tmplPath)
				_ = e.sim.Templates(testApp)
				e.sim.Inject("/cgi-bin/tags/get", 45011, 1)
				e.get("/cgi-bin/tags/get", at(tok))
			}
		}()
	}
	wg.Wait()
	e.sim.Close()
	// Each worker used 5 distinct client_msg_ids within the dedupe window.
	if got, want := len(e.sim.Templates(testApp)), workers*5; got != want {
		t.Errorf("Templates = %d, want %d", got, want)
	}
	if got, want := e.sim.CallCount(tmplPath), workers*perWorker; got != want {
		t.Errorf("CallCount = %d, want %d", got, want)
	}
}
