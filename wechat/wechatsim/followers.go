package wechatsim

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// WeChat's limits for reading the follower list.
const (
	userPageSize = 10000 // openids per user/get page
	maxBatchGet  = 100   // openids per user/info/batchget call
)

// The stores and tags seeded followers come from.
var (
	seedScenes = [...]string{"store:sh-001", "store:sh-001", "store:sh-001", "store:sh-002", "store:sh-002",
		"store:bj-001", "ref:SIMREF01", "", "", ""}
	seedTags = [...]string{"vip", "member"}
)

// seedSpread is how far back seeded follows go.
const seedSpread = 2 * 365 * 24 * time.Hour

// sortedOpenIDs returns every openid the app knows, in byte order: the
// stable order user/get pages through. It is rebuilt after the set of known
// openids changes (a.sorted is reset where followers are added or removed).
func (a *app) sortedOpenIDs() []string {
	if a.sorted == nil || len(a.sorted) != len(a.followers) {
		a.sorted = make([]string, 0, len(a.followers))
		for id := range a.followers {
			a.sorted = append(a.sorted, id)
		}
		slices.Sort(a.sorted)
	}
	return a.sorted
}

// handleUserGet is GET /cgi-bin/user/get?next_openid=: up to 10,000 current
// followers after next_openid (from the start when empty) in openid order.
// As WeChat, next_openid in the answer is the page's last openid, on the
// last page too; the call after the end answers count 0 and next_openid "".
// total is the number of current followers.
func (s *Sim) handleUserGet(req *apiReq) reply {
	a := s.appLocked(req.appID)
	ids := a.sortedOpenIDs()
	i := 0
	if next := req.query.Get("next_openid"); next != "" {
		var found bool
		if i, found = slices.BinarySearch(ids, next); found {
			i++
		}
	}
	page := []string{}
	for ; i < len(ids) && len(page) < userPageSize; i++ {
		if a.followers[ids[i]].subscribed {
			page = append(page, ids[i])
		}
	}
	total := 0
	for _, f := range a.followers {
		if f.subscribed {
			total++
		}
	}
	out := map[string]any{"total": total, "count": len(page), "next_openid": ""}
	if len(page) > 0 {
		out["data"] = map[string]any{"openid": page}
		out["next_openid"] = page[len(page)-1]
	}
	return jsonReply(out)
}

// handleUserBatchGet is POST /cgi-bin/user/info/batchget
// {user_list:[{openid, lang}]}: user/info for 1 to 100 users at once. An
// empty or longer list answers 40032; an openid the app never saw fails the
// whole call with 40003; a user who unfollowed is {subscribe:0, openid}.
func (s *Sim) handleUserBatchGet(req *apiReq) reply {
	var in struct {
		UserList []struct {
			OpenID string `json:"openid"`
			Lang   string `json:"lang"`
		} `json:"user_list"`
	}
	if code := decode(req.body, &in); code != 0 {
		return errReply(code)
	}
	if len(in.UserList) == 0 || len(in.UserList) > maxBatchGet {
		return errReply(40032)
	}
	a := s.appLocked(req.appID)
	list := make([]map[string]any, 0, len(in.UserList))
	for _, u := range in.UserList {
		f, ok := a.followers[u.OpenID]
		if !ok {
			return errReply(40003)
		}
		list = append(list, userInfoOf(f))
	}
	return jsonReply(map[string]any{"user_info_list": list})
}

// userInfoOf is what user/info and batchget answer about f.
func userInfoOf(f *follower) map[string]any {
	if !f.subscribed {
		out := map[string]any{"subscribe": 0, "openid": f.OpenID}
		if f.UnionID != "" {
			out["unionid"] = f.UnionID
		}
		return out
	}
	out := map[string]any{
		"subscribe":       1,
		"openid":          f.OpenID,
		"language":        f.Language,
		"subscribe_time":  f.SubscribeTime.Unix(),
		"remark":          f.Remark,
		"groupid":         0,
		"tagid_list":      nonNil(f.TagIDs),
		"subscribe_scene": f.SubscribeScene,
		"qr_scene":        f.QRScene,
		"qr_scene_str":    f.QRSceneStr,
	}
	if f.UnionID != "" {
		out["unionid"] = f.UnionID
	}
	return out
}

// SeedOpenID is the openid of seeded follower i of appID: 28 characters
// from WeChat's alphabet, the same in every run, in no useful order.
func SeedOpenID(appID string, i int) string {
	return "o" + hash27("openid/"+appID+"/"+strconv.Itoa(i))
}

func hash27(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:27]
}

// SeedFollowers makes followers 0 to n-1 of a generated list follow appID
// (seeding again re-follows the same people) and returns how many follow
// the app now. Follower i has openid SeedOpenID(appID, i); two in three have
// a unionid; six in ten followed through a QR code, most of them a store's
// (store:sh-001, store:sh-002, store:bj-001), one in ten a referral code
// (ref:SIMREF01); one in four has tag vip, one in five tag member (the tags
// are created if missing); follow times are spread over the two years
// before the Sim's now (none in the last hour), whole seconds.
func (s *Sim) SeedFollowers(appID string, n int) int {
	following := 0
	s.withApp(appID, func(a *app) {
		ids := map[string]int{}
		for _, name := range seedTags {
			ids[name] = tagIDLocked(a, name)
		}
		now := s.now().Truncate(time.Second)
		for i := range n {
			f := seedFollower(appID, i, now, ids)
			if _, known := a.followers[f.OpenID]; !known {
				for _, id := range f.TagIDs {
					a.tags[id].count++
				}
			}
			s.followLocked(a, f)
		}
		for _, f := range a.followers {
			if f.subscribed {
				following++
			}
		}
	})
	return following
}

// seedFollower is generated follower i; tags maps tag names to ids.
func seedFollower(appID string, i int, now time.Time, tags map[string]int) Follower {
	f := Follower{
		OpenID:         SeedOpenID(appID, i),
		SubscribeTime:  now.Add(-time.Hour - time.Duration(uint64(i)*7919%uint64((seedSpread-time.Hour)/time.Second))*time.Second),
		SubscribeScene: "ADD_SCENE_SEARCH",
		QRSceneStr:     seedScenes[i%len(seedScenes)],
		TagIDs:         []int{},
	}
	if i%3 != 2 {
		f.UnionID = "u" + hash27("unionid/"+appID+"/"+strconv.Itoa(i))
	}
	if f.QRSceneStr != "" {
		f.SubscribeScene = "ADD_SCENE_QR_CODE"
	}
	if i%4 == 0 {
		f.TagIDs = append(f.TagIDs, tags["vip"])
	}
	if i%5 == 0 {
		f.TagIDs = append(f.TagIDs, tags["member"])
	}
	return f
}

// tagIDLocked returns the id of a's tag name, creating the tag if needed.
func tagIDLocked(a *app, name string) int {
	for _, t := range a.tags {
		if t.name == name {
			return t.id
		}
	}
	t := &tag{id: a.nextTag, name: name}
	a.nextTag++
	a.tags[t.id] = t
	return t.id
}

// handleSimSeed is POST /_sim/followers/seed {app_id, count}.
func (s *Sim) handleSimSeed(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID string `json:"app_id"`
		Count int    `json:"count"`
	}
	if !readJSON(w, r, &in) || !needApp(w, in.AppID) {
		return
	}
	if in.Count < 1 {
		writeErr(w, http.StatusBadRequest, errors.New("count must be at least 1"))
		return
	}
	following := s.SeedFollowers(in.AppID, in.Count)
	writeJSON(w, http.StatusOK, map[string]any{"seeded": in.Count, "following": following,
		"first_openid": SeedOpenID(in.AppID, 0)})
}
