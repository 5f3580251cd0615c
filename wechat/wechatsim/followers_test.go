package wechatsim

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// userPage is one decoded user/get answer.
type userPage struct {
	errcode, total, count int
	openids               []string
	next                  string
}

func (e *env) userGet(tok, next string) userPage {
	e.t.Helper()
	q := at(tok)
	q.Set("next_openid", next)
	r := e.get("/cgi-bin/user/get", q)
	p := userPage{errcode: r.errcode(), next: r.str("next_openid")}
	if v, ok := r.json["total"].(float64); ok {
		p.total = int(v)
	}
	if v, ok := r.json["count"].(float64); ok {
		p.count = int(v)
	}
	if data, ok := r.json["data"].(map[string]any); ok {
		for _, id := range data["openid"].([]any) {
			p.openids = append(p.openids, id.(string))
		}
	}
	return p
}

func TestUserGetPages(t *testing.T) {
	e := newEnv(t)
	const n = 25000
	if got := e.sim.SeedFollowers(testApp, n); got != n {
		t.Fatalf("SeedFollowers = %d, want %d", got, n)
	}
	gone := SeedOpenID(testApp, 7)
	e.sim.Unfollow(testApp, gone)
	tok := e.token(testApp, testSecret)

	var all []string
	var counts []int
	next := ""
	for range 10 {
		p := e.userGet(tok, next)
		if p.errcode != 0 || p.total != n-1 {
			t.Fatalf("page after %q: errcode %d, total %d; want 0, %d", next, p.errcode, p.total, n-1)
		}
		counts = append(counts, p.count)
		if p.count != len(p.openids) {
			t.Fatalf("count %d but %d openids", p.count, len(p.openids))
		}
		if p.count == 0 {
			if p.next != "" {
				t.Errorf("past the end: next_openid = %q, want empty", p.next)
			}
			break
		}
		if p.next != p.openids[len(p.openids)-1] {
			t.Errorf("next_openid = %q, want the page's last openid %q", p.next, p.openids[len(p.openids)-1])
		}
		all = append(all, p.openids...)
		next = p.next
	}
	if want := []int{10000, 10000, 4999, 0}; !slices.Equal(counts, want) {
		t.Errorf("page sizes = %v, want %v", counts, want)
	}
	if !slices.IsSorted(all) || len(all) != n-1 || slices.Contains(all, gone) {
		t.Errorf("%d openids, sorted %v, unfollower listed %v; want %d sorted without %s", len(all), slices.IsSorted(all), slices.Contains(all, gone), n-1, gone)
	}

	// A cursor whose follower was removed meanwhile still continues after it.
	e.sim.RemoveFollower(testApp, all[9999])
	if p := e.userGet(tok, all[9999]); p.count != 10000 || p.openids[0] != all[10000] {
		t.Errorf("after a removed cursor: count %d, first %v; want 10000 from %s", p.count, p.openids[:1], all[10000])
	}
}

func TestUserBatchGet(t *testing.T) {
	e := newEnv(t)
	e.sim.SeedFollowers(testApp, 200)
	e.sim.Unfollow(testApp, SeedOpenID(testApp, 1))
	tok := e.token(testApp, testSecret)
	list := func(ids ...string) map[string]any {
		var l []map[string]string
		for _, id := range ids {
			l = append(l, map[string]string{"openid": id, "lang": "zh_CN"})
		}
		return map[string]any{"user_list": l}
	}
	r := e.post("/cgi-bin/user/info/batchget", at(tok), list(SeedOpenID(testApp, 0), SeedOpenID(testApp, 1), SeedOpenID(testApp, 2)))
	got, _ := r.json["user_info_list"].([]any)
	if r.errcode() != 0 || len(got) != 3 {
		t.Fatalf("batchget: %s", r.body)
	}
	first := got[0].(map[string]any)
	f0, _, _ := e.sim.Follower(testApp, SeedOpenID(testApp, 0))
	want := map[string]any{"subscribe": float64(1), "openid": f0.OpenID, "unionid": f0.UnionID,
		"subscribe_time": float64(f0.SubscribeTime.Unix()), "qr_scene_str": "store:sh-001", "subscribe_scene": "ADD_SCENE_QR_CODE"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("follower 0: %s = %v, want %v", k, first[k], v)
		}
	}
	if tags := first["tagid_list"].([]any); len(tags) != 2 {
		t.Errorf("follower 0 tags = %v, want vip and member", tags)
	}
	if second := got[1].(map[string]any); second["subscribe"] != float64(0) || second["unionid"] == nil || second["subscribe_time"] != nil {
		t.Errorf("unfollower = %v, want subscribe 0 with openid and unionid only", second)
	}
	if third := got[2].(map[string]any); third["unionid"] != nil {
		t.Errorf("follower 2 = %v, want no unionid (one in three has none)", third)
	}

	var ids101 []string
	for i := range 101 {
		ids101 = append(ids101, SeedOpenID(testApp, i))
	}
	for _, tc := range []struct {
		name string
		body any
		want int
	}{
		{"101 users", list(ids101...), 40032},
		{"none", list(), 40032},
		{"an openid never seen", list(SeedOpenID(testApp, 0), "o-stranger"), 40003},
		{"not JSON", "{", 47001},
	} {
		if r := e.post("/cgi-bin/user/info/batchget", at(tok), tc.body); r.errcode() != tc.want {
			t.Errorf("%s: errcode %d, want %d", tc.name, r.errcode(), tc.want)
		}
	}
	if r := e.get("/cgi-bin/user/info/batchget", at(tok)); r.errcode() != 43002 {
		t.Errorf("GET batchget: errcode %d, want 43002", r.errcode())
	}
}

func TestSeedFollowers(t *testing.T) {
	e := newEnv(t)
	e.sim.SeedFollowers(testApp, 1000)
	if again := e.sim.SeedFollowers(testApp, 1000); again != 1000 {
		t.Errorf("seeding again: %d following, want 1000 (the same people)", again)
	}
	scenes := map[string]int{}
	tags := map[int]int{}
	unionids := 0
	now := e.clk.Now()
	for i := range 1000 {
		f, following, ok := e.sim.Follower(testApp, SeedOpenID(testApp, i))
		if !ok || !following || len(f.OpenID) != 28 {
			t.Fatalf("follower %d = %+v, following %v", i, f, following)
		}
		if age := now.Sub(f.SubscribeTime); age < time.Hour || age > 2*365*24*time.Hour || f.SubscribeTime.Nanosecond() != 0 {
			t.Errorf("follower %d followed at %v, want whole seconds within two years before %v", i, f.SubscribeTime, now)
		}
		scenes[f.QRSceneStr]++
		for _, id := range f.TagIDs {
			tags[id]++
		}
		if f.UnionID != "" {
			unionids++
		}
	}
	want := map[string]int{"store:sh-001": 300, "store:sh-002": 200, "store:bj-001": 100, "ref:SIMREF01": 100, "": 300}
	if fmt.Sprint(scenes) != fmt.Sprint(want) {
		t.Errorf("scenes = %v, want %v", scenes, want)
	}
	counts := map[string]int{}
	for _, tg := range e.sim.Tags(testApp) {
		counts[tg.Name] = tg.Count
		if tags[tg.ID] != tg.Count {
			t.Errorf("tag %s: count %d, %d followers have it", tg.Name, tg.Count, tags[tg.ID])
		}
	}
	if counts["vip"] != 250 || counts["member"] != 200 || unionids != 667 {
		t.Errorf("tags %v, unionids %d; want vip 250, member 200, 667 unionids", counts, unionids)
	}
	if SeedOpenID(testApp, 5) != SeedOpenID(testApp, 5) || SeedOpenID(testApp, 5) == SeedOpenID("wxother", 5) {
		t.Error("SeedOpenID is not deterministic per app")
	}
}

func TestSeedControl(t *testing.T) {
	e := newEnv(t)
	r := e.post("/_sim/followers/seed", nil, map[string]any{"app_id": testApp, "count": 300})
	if r.status != 200 || r.json["following"] != float64(300) || r.str("first_openid") != SeedOpenID(testApp, 0) {
		t.Fatalf("seed: %d %s", r.status, r.body)
	}
	if r := e.post("/_sim/followers/seed", nil, map[string]any{"app_id": testApp}); r.status != 400 {
		t.Errorf("seed without count: %d, want 400", r.status)
	}
	tok := e.token(testApp, testSecret)
	if p := e.userGet(tok, ""); p.total != 300 || p.count != 300 {
		t.Errorf("user/get after seeding: total %d count %d", p.total, p.count)
	}
}

func TestInjectAfter(t *testing.T) {
	e := newEnv(t)
	e.sim.SeedFollowers(testApp, 10)
	tok := e.token(testApp, testSecret)
	e.sim.InjectAfter("/cgi-bin/user/get", 45009, 1, 1)
	var got []int
	for range 3 {
		got = append(got, e.userGet(tok, "").errcode)
	}
	if want := []int{0, 45009, 0}; !slices.Equal(got, want) {
		t.Errorf("errcodes = %v, want %v", got, want)
	}
	r := e.post("/_sim/inject", nil, map[string]any{"path": "/cgi-bin/user/get", "errcode": 48001, "after": 2, "times": 1})
	if r.status != 200 {
		t.Fatalf("inject: %d %s", r.status, r.body)
	}
	got = got[:0]
	for range 4 {
		got = append(got, e.userGet(tok, "").errcode)
	}
	if want := []int{0, 0, 48001, 0}; !slices.Equal(got, want) {
		t.Errorf("errcodes after control inject = %v, want %v", got, want)
	}
}
