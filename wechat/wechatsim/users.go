package wechatsim

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"time"
)

const (
	maxTags        = 100
	maxTagsPerUser = 20
	maxTagNameLen  = 30 // bytes
	maxBatchOpenID = 50
	codeTTL        = 5 * time.Minute
)

// Tag is one user tag of an OA.
type Tag struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// handleUserInfo is GET /cgi-bin/user/info?openid=&lang=.
func (s *Sim) handleUserInfo(req *apiReq) reply {
	a := s.appLocked(req.appID)
	f, ok := s.followerLocked(a, req.query.Get("openid"))
	if !ok {
		return errReply(40003)
	}
	return jsonReply(userInfoOf(f))
}

func nonNil(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}

// handleTagCreate is POST /cgi-bin/tags/create {tag:{name}}.
func (s *Sim) handleTagCreate(req *apiReq) reply {
	var in struct {
		Tag struct {
			Name string `json:"name"`
		} `json:"tag"`
	}
	if code := decode(req.body, &in); code != 0 {
		return errReply(code)
	}
	a := s.appLocked(req.appID)
	name := in.Tag.Name
	switch {
	case len(name) > maxTagNameLen:
		return errReply(45158)
	case name == "":
		return errReply(45157)
	case len(a.tags) >= maxTags:
		return errReply(45056)
	}
	for _, t := range a.tags {
		if t.name == name {
			return errReply(45157)
		}
	}
	t := &tag{id: a.nextTag, name: name}
	a.nextTag++
	a.tags[t.id] = t
	return jsonReply(map[string]any{"tag": map[string]any{"id": t.id, "name": t.name}})
}

// handleTagGet is GET /cgi-bin/tags/get.
func (s *Sim) handleTagGet(req *apiReq) reply {
	return jsonReply(map[string]any{"tags": tagsOf(s.appLocked(req.appID))})
}

func tagsOf(a *app) []Tag {
	out := []Tag{}
	for _, t := range a.tags {
		out = append(out, Tag{ID: t.id, Name: t.name, Count: t.count})
	}
	slices.SortFunc(out, func(x, y Tag) int { return x.ID - y.ID })
	return out
}

type batchTag struct {
	OpenIDList []string `json:"openid_list"`
	TagID      int      `json:"tagid"`
}

// checkBatch validates a batch (un)tagging request before anything changes,
// so a failed batch changes nothing.
func checkBatch(a *app, in batchTag) int {
	if len(in.OpenIDList) == 0 || len(in.OpenIDList) > maxBatchOpenID {
		return 40032
	}
	if _, ok := a.tags[in.TagID]; !ok {
		return 45159
	}
	for _, id := range in.OpenIDList {
		if _, ok := a.followers[id]; !ok {
			return 40003
		}
	}
	return 0
}

// readBatch decodes a batch (un)tagging request and checks it against the
// app (checkBatch); a non-zero errcode means nothing may change.
func (s *Sim) readBatch(req *apiReq) (*app, batchTag, int) {
	var in batchTag
	if code := decode(req.body, &in); code != 0 {
		return nil, in, code
	}
	a := s.appLocked(req.appID)
	return a, in, checkBatch(a, in)
}

// handleBatchTag is POST /cgi-bin/tags/members/batchtagging.
func (s *Sim) handleBatchTag(req *apiReq) reply {
	a, in, code := s.readBatch(req)
	if code != 0 {
		return errReply(code)
	}
	for _, id := range in.OpenIDList {
		f := a.followers[id]
		if !slices.Contains(f.TagIDs, in.TagID) && len(f.TagIDs) >= maxTagsPerUser {
			return errReply(45059)
		}
	}
	for _, id := range in.OpenIDList {
		f := a.followers[id]
		if !slices.Contains(f.TagIDs, in.TagID) {
			f.TagIDs = append(f.TagIDs, in.TagID)
			a.tags[in.TagID].count++
		}
	}
	return okReply()
}

// handleBatchUntag is POST /cgi-bin/tags/members/batchuntagging.
func (s *Sim) handleBatchUntag(req *apiReq) reply {
	a, in, code := s.readBatch(req)
	if code != 0 {
		return errReply(code)
	}
	for _, id := range in.OpenIDList {
		f := a.followers[id]
		if i := slices.Index(f.TagIDs, in.TagID); i >= 0 {
			f.TagIDs = slices.Delete(f.TagIDs, i, i+1)
			a.tags[in.TagID].count--
		}
	}
	return okReply()
}

// handleTagIDList is POST /cgi-bin/tags/getidlist {openid}.
func (s *Sim) handleTagIDList(req *apiReq) reply {
	var in struct {
		OpenID string `json:"openid"`
	}
	if code := decode(req.body, &in); code != 0 {
		return errReply(code)
	}
	f, ok := s.appLocked(req.appID).followers[in.OpenID]
	if !ok {
		return errReply(40003)
	}
	return jsonReply(map[string]any{"tagid_list": nonNil(f.TagIDs)})
}

// Tags returns appID's tags ordered by id, with member counts.
func (s *Sim) Tags(appID string) []Tag {
	var out []Tag
	s.withApp(appID, func(a *app) { out = tagsOf(a) })
	return out
}

// handleJSCode2Session is GET /sns/jscode2session: a registered code answers
// once (then 40163), within 5 minutes (then 40029); unknown codes 40029.
func (s *Sim) handleJSCode2Session(req *apiReq) reply {
	q := req.query
	req.appID = q.Get("appid")
	a, code := s.credentials(q.Get("appid"), q.Get("secret"))
	if code != 0 {
		return errReply(code)
	}
	if q.Get("grant_type") != "authorization_code" {
		return errReply(40002)
	}
	jsCode := q.Get("js_code")
	if jsCode == "" {
		return errReply(41008)
	}
	c, ok := a.codes[jsCode]
	switch {
	case !ok || req.now.Sub(c.issued) >= codeTTL:
		return errReply(40029)
	case c.used:
		return errReply(40163)
	}
	c.used = true
	sum := sha256.Sum256([]byte(a.id + "/" + c.openID + "/" + jsCode))
	out := map[string]any{"openid": c.openID, "session_key": base64.StdEncoding.EncodeToString(sum[:16])}
	if c.unionID != "" {
		out["unionid"] = c.unionID
	}
	return jsonReply(out)
}
