package wechatsim

import (
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"time"
)

// controlMux routes the /_sim/ JSON API documented in doc.go.
func (s *Sim) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_sim/calls", s.handleSimCalls)
	mux.HandleFunc("GET /_sim/state", s.handleSimState)
	mux.HandleFunc("POST /_sim/apps", s.handleSimApps)
	mux.HandleFunc("POST /_sim/followers", s.handleSimFollowers)
	mux.HandleFunc("POST /_sim/followers/seed", s.handleSimSeed)
	mux.HandleFunc("POST /_sim/inject", s.handleSimInject)
	mux.HandleFunc("POST /_sim/webhook", s.handleSimWebhook)
	mux.HandleFunc("POST /_sim/push", s.handleSimPush)
	mux.HandleFunc("POST /_sim/codes", s.handleSimCodes)
	mux.HandleFunc("POST /_sim/consents", s.handleSimConsents)
	mux.HandleFunc("POST /_sim/expire", s.handleSimExpire)
	mux.HandleFunc("GET /_sim/mass", s.handleSimMass)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeOK answers {"ok": true}, the reply of a control call that changes state.
func writeOK(w http.ResponseWriter) { writeJSON(w, http.StatusOK, map[string]bool{"ok": true}) }

func writeErr(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// readJSON decodes the request body into v and checks app_id when asked.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("bad JSON: %w", err))
		return false
	}
	return true
}

func needApp(w http.ResponseWriter, appID string) bool {
	if appID == "" {
		writeErr(w, http.StatusBadRequest, errors.New("app_id is required"))
		return false
	}
	return true
}

type callView struct {
	Path    string     `json:"path"`
	AppID   string     `json:"app_id,omitempty"`
	Query   url.Values `json:"query,omitempty"`
	Body    string     `json:"body,omitempty"`
	Status  int        `json:"status"`
	Errcode int        `json:"errcode"`
	Dedupe  bool       `json:"dedupe,omitempty"`
	At      time.Time  `json:"at"`
}

func (s *Sim) handleSimCalls(w http.ResponseWriter, r *http.Request) {
	out := []callView{}
	for _, c := range s.Calls(r.URL.Query().Get("path")) {
		out = append(out, callView{Path: c.Path, AppID: c.AppID, Query: c.Query, Body: string(c.Body),
			Status: c.Status, Errcode: c.Errcode, Dedupe: c.Dedupe, At: c.At})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleSimState(w http.ResponseWriter, r *http.Request) {
	appID := r.URL.Query().Get("app_id")
	if !needApp(w, appID) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"original_id":     s.OriginalID(appID),
		"token_fetches":   s.TokenFetches(appID),
		"templates":       s.Templates(appID),
		"subscribe_sends": s.SubscribeSends(appID),
		"customs":         s.Customs(appID),
		"qrcodes":         s.QRCodes(appID),
		"mini_codes":      s.MiniCodes(appID),
		"url_links":       s.URLLinks(appID),
		"tags":            s.Tags(appID),
	})
}

func (s *Sim) handleSimApps(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID  string `json:"app_id"`
		Secret string `json:"secret"`
	}
	if !readJSON(w, r, &in) || !needApp(w, in.AppID) {
		return
	}
	s.AddApp(in.AppID, in.Secret)
	writeJSON(w, http.StatusOK, map[string]any{"app_id": in.AppID, "original_id": s.OriginalID(in.AppID)})
}

func (s *Sim) handleSimFollowers(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID          string `json:"app_id"`
		OpenID         string `json:"openid"`
		UnionID        string `json:"unionid"`
		SubscribeScene string `json:"subscribe_scene"`
		QRSceneStr     string `json:"qr_scene_str"`
		Unfollow       bool   `json:"unfollow"`
		Remove         bool   `json:"remove"`
		CSWindow       *bool  `json:"cs_window"`
	}
	if !readJSON(w, r, &in) || !needApp(w, in.AppID) {
		return
	}
	if in.OpenID == "" {
		writeErr(w, http.StatusBadRequest, errors.New("openid is required"))
		return
	}
	switch {
	case in.Remove:
		s.RemoveFollower(in.AppID, in.OpenID)
	case in.Unfollow:
		s.Unfollow(in.AppID, in.OpenID)
	case in.CSWindow != nil:
		s.SetCSWindow(in.AppID, in.OpenID, *in.CSWindow)
	default:
		s.AddFollower(in.AppID, Follower{OpenID: in.OpenID, UnionID: in.UnionID,
			SubscribeScene: in.SubscribeScene, QRSceneStr: in.QRSceneStr})
	}
	f, following, known := s.Follower(in.AppID, in.OpenID)
	writeJSON(w, http.StatusOK, map[string]any{"openid": in.OpenID, "known": known, "following": following, "unionid": f.UnionID})
}

func (s *Sim) handleSimInject(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Path    string `json:"path"`
		Errcode int    `json:"errcode"`
		Status  int    `json:"status"`
		DelayMS int    `json:"delay_ms"`
		Times   int    `json:"times"`
		After   int    `json:"after"`
		Clear   bool   `json:"clear"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.Times == 0 {
		in.Times = 1
	}
	switch {
	case in.Clear:
		s.ClearInjections(in.Path)
	case in.Path == "":
		writeErr(w, http.StatusBadRequest, errors.New("path is required"))
		return
	case in.Status != 0:
		s.InjectStatus(in.Path, in.Status, in.Times)
	case in.DelayMS != 0:
		s.InjectDelay(in.Path, time.Duration(in.DelayMS)*time.Millisecond, in.Times)
	case in.Errcode != 0:
		s.InjectAfter(in.Path, in.Errcode, in.After, in.Times)
	default:
		writeErr(w, http.StatusBadRequest, errors.New("one of errcode, status, delay_ms or clear is required"))
		return
	}
	writeOK(w)
}

func (s *Sim) handleSimWebhook(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID          string `json:"app_id"`
		URL            string `json:"url"`
		Token          string `json:"token"`
		EncodingAESKey string `json:"encoding_aes_key"`
		JobFinish      string `json:"job_finish"`
	}
	if !readJSON(w, r, &in) || !needApp(w, in.AppID) {
		return
	}
	if in.URL == "" {
		s.SetWebhook(in.AppID, nil)
	} else {
		s.SetWebhook(in.AppID, &Pusher{URL: in.URL, Token: in.Token, EncodingAESKey: in.EncodingAESKey, AppID: in.AppID})
	}
	s.SetJobFinish(in.AppID, in.JobFinish)
	writeOK(w)
}

// pushRequest is the body of POST /_sim/push.
type pushRequest struct {
	AppID     string      `json:"app_id"`
	OpenID    string      `json:"openid"`
	Type      string      `json:"type"`
	Scene     string      `json:"scene"`
	Ticket    string      `json:"ticket"`
	Key       string      `json:"key"`
	URL       string      `json:"url"`
	PagePath  string      `json:"pagepath"`
	MenuID    string      `json:"menu_id"`
	Content   string      `json:"content"`
	Lat       float64     `json:"lat"`
	Lng       float64     `json:"lng"`
	Precision float64     `json:"precision"`
	Scale     int         `json:"scale"`
	Label     string      `json:"label"`
	PicURL    string      `json:"pic_url"`
	MediaID   string      `json:"media_id"`
	MsgID     int64       `json:"msg_id"`
	Status    string      `json:"status"`
	Items     []PopupItem `json:"items"`
}

func (s *Sim) handleSimPush(w http.ResponseWriter, r *http.Request) {
	var in pushRequest
	if !readJSON(w, r, &in) || !needApp(w, in.AppID) {
		return
	}
	if in.OpenID == "" {
		writeErr(w, http.StatusBadRequest, errors.New("openid is required"))
		return
	}
	var rep *Reply
	var err error
	if in.Type == "scan_qrcode" || (in.Ticket != "" && in.Scene == "" && (in.Type == "scan" || in.Type == "subscribe")) {
		rep, err = s.ScanQRCode(r.Context(), in.AppID, in.OpenID, in.Ticket)
	} else {
		m, ok := in.message(s.now())
		if !ok {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("unknown type %q", in.Type))
			return
		}
		rep, err = s.Push(r.Context(), in.AppID, m)
	}
	out := map[string]any{}
	if rep != nil {
		out["status"], out["body"], out["raw"] = rep.Status, string(rep.Body), string(rep.Raw)
	}
	if err != nil {
		out["error"] = err.Error()
		writeJSON(w, http.StatusBadGateway, out)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// message builds the Message a push request describes; ToUserName is left
// for Sim.Push to fill in.
func (in pushRequest) message(now time.Time) (Message, bool) {
	id := in.MsgID
	if id == 0 {
		id = mrand.Int64N(1<<62) + 1
	}
	o, at := in.OpenID, now
	switch in.Type {
	case "subscribe":
		return Subscribe("", o, at, in.Scene), true
	case "unsubscribe":
		return Unsubscribe("", o, at), true
	case "scan":
		return Scan("", o, at, in.Scene), true
	case "location":
		return Location("", o, at, in.Lat, in.Lng, in.Precision), true
	case "click":
		return Click("", o, at, in.Key), true
	case "view":
		return View("", o, at, in.URL, in.MenuID), true
	case "view_miniprogram":
		return ViewMiniprogram("", o, at, in.PagePath, in.MenuID), true
	case "text":
		return Text("", o, at, in.Content, id), true
	case "location_msg":
		return LocationMsg("", o, at, in.Lat, in.Lng, in.Scale, in.Label, id), true
	case "image":
		return Image("", o, at, in.PicURL, in.MediaID, id), true
	case "popup":
		return SubscribeMsgPopupEvent("", o, at, in.Items), true
	case "job_finish":
		return TemplateSendJobFinish("", o, at, in.MsgID, in.Status), true
	}
	return Message{}, false
}

func (s *Sim) handleSimCodes(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID   string `json:"app_id"`
		Code    string `json:"code"`
		OpenID  string `json:"openid"`
		UnionID string `json:"unionid"`
	}
	if !readJSON(w, r, &in) || !needApp(w, in.AppID) {
		return
	}
	if in.Code == "" || in.OpenID == "" {
		writeErr(w, http.StatusBadRequest, errors.New("code and openid are required"))
		return
	}
	s.AddLoginCode(in.AppID, in.Code, in.OpenID, in.UnionID)
	writeOK(w)
}

func (s *Sim) handleSimConsents(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID      string `json:"app_id"`
		OpenID     string `json:"openid"`
		TemplateID string `json:"template_id"`
		Count      int    `json:"count"`
	}
	if !readJSON(w, r, &in) || !needApp(w, in.AppID) {
		return
	}
	for range max(in.Count, 1) {
		s.GrantConsent(in.AppID, in.OpenID, in.TemplateID)
	}
	writeOK(w)
}

func (s *Sim) handleSimExpire(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID string `json:"app_id"`
	}
	if !readJSON(w, r, &in) || !needApp(w, in.AppID) {
		return
	}
	s.ExpireTokens(in.AppID)
	writeOK(w)
}
