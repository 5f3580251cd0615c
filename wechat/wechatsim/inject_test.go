package wechatsim

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestInjectErrcodeThenSuccess(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(testApp, Follower{OpenID: "o1"})
	tok := e.token(testApp, testSecret)
	e.sim.Inject(tmplPath, 45009, 2)
	e.sim.Inject(tmplPath, -1, 1)
	var got []int
	for range 4 {
		got = append(got, e.post(tmplPath, at(tok), tmpl("o1", "", nil)).errcode())
	}
	want := []int{45009, 45009, -1, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("errcodes = %v, want %v", got, want)
		}
	}
	if n := len(e.sim.Templates(testApp)); n != 1 {
		t.Errorf("Templates = %d, want 1 (injected failures record nothing)", n)
	}
	calls := e.sim.Calls(tmplPath)
	if len(calls) != 4 || calls[0].Errcode != 45009 || calls[0].AppID != testApp || calls[3].Errcode != 0 {
		t.Errorf("Calls = %+v", calls)
	}
	if e.sim.CallCount(tmplPath) != 4 {
		t.Errorf("CallCount = %d", e.sim.CallCount(tmplPath))
	}
}

func TestInjectStatusForeverAndClear(t *testing.T) {
	e := newEnv(t)
	tok := e.token(testApp, testSecret)
	e.sim.InjectStatus("/cgi-bin/tags/get", http.StatusBadGateway, -1)
	for range 3 {
		if r := e.get("/cgi-bin/tags/get", at(tok)); r.status != http.StatusBadGateway {
			t.Fatalf("status %d, want 502", r.status)
		}
	}
	e.sim.ClearInjections("/cgi-bin/tags/get")
	if r := e.get("/cgi-bin/tags/get", at(tok)); r.status != http.StatusOK || r.errcode() != 0 {
		t.Errorf("after clear: %d %s", r.status, r.body)
	}
}

func TestInjectDelay(t *testing.T) {
	e := newEnv(t)
	tok := e.token(testApp, testSecret)
	e.sim.InjectDelay("/cgi-bin/tags/get", 2*time.Second, 1)
	client := &http.Client{Timeout: 100 * time.Millisecond}
	_, err := client.Get(e.srv.URL + "/cgi-bin/tags/get?access_token=" + tok)
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if r := e.get("/cgi-bin/tags/get", at(tok)); r.errcode() != 0 {
		t.Errorf("next call: errcode %d", r.errcode())
	}
}

func TestInjectDelayThenAnswer(t *testing.T) {
	e := newEnv(t)
	e.sim.InjectDelay("/cgi-bin/tags/get", 50*time.Millisecond, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/cgi-bin/tags/get", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if time.Since(start) < 50*time.Millisecond {
		t.Error("answered before the delay")
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	e := newEnv(t)
	r := e.get("/cgi-bin/nope", nil)
	if r.status != http.StatusNotFound || r.errcode() != 40066 {
		t.Errorf("unknown path: %d %s", r.status, r.body)
	}
	if r := e.get(tmplPath, at(e.token(testApp, testSecret))); r.errcode() != 43002 {
		t.Errorf("GET on POST path: errcode %d, want 43002", r.errcode())
	}
	if r := e.call(tmplPath, "{not json"); r.errcode() != 47001 {
		t.Errorf("bad JSON: errcode %d, want 47001", r.errcode())
	}
	if r := e.call(tmplPath, ""); r.errcode() != 44002 {
		t.Errorf("empty body: errcode %d, want 44002", r.errcode())
	}
}
