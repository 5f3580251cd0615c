package wechatsim

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Mass send (POST /cgi-bin/message/mass/send to an openid list), with the
// checks WeChat documents: 2-10,000 openids (40130 below two), at most 60
// calls a minute (45011), clientmsgid guarding a repeat for 24 hours, and on
// a service account at most DefaultMassMonthlyCap mass sends per follower a
// natural month (Asia/Shanghai).
const (
	massMinTo     = 2
	massMaxTo     = 10000
	massPerMinute = 60
	massDedupe    = 24 * time.Hour
	// DefaultMassMonthlyCap is how many mass sends a service account's
	// follower receives a month; SetMassMonthlyCap changes it per app.
	DefaultMassMonthlyCap = 4
	// EventMassJob is the event pushed when a mass send has gone out.
	EventMassJob = "MASSSENDJOBFINISH"
	// MassAssistantOpenID is the FromUserName of the Sim's MASSSENDJOBFINISH
	// pushes: WeChat sends them from the OA's mass-send assistant, not from a
	// follower.
	MassAssistantOpenID = "oMassSendAssistant0000000000"
)

// beijing is the zone of WeChat's natural months.
var beijing = time.FixedZone("CST", 8*3600)

// MassSend is one mass send the Sim accepted (a clientmsgid repeat is not
// one; see Call.Dedupe).
type MassSend struct {
	MsgID         int64    `json:"msg_id"`
	MsgDataID     int64    `json:"msg_data_id"`
	ClientMsgID   string   `json:"clientmsgid"`
	MsgType       string   `json:"msgtype"` // text or mpnews
	Text          string   `json:"text,omitempty"`
	MediaID       string   `json:"media_id,omitempty"`
	IgnoreReprint bool     `json:"send_ignore_reprint"`
	ToUsers       []string `json:"touser"`
	// Delivered are the followers who received it: those who follow and
	// had not yet received the month's cap.
	Delivered []string `json:"delivered"`
	// The counts MASSSENDJOBFINISH carries: TotalCount openids named (once
	// each), FilterCount of them who follow (WeChat's "after filtering"),
	// SentCount delivered, ErrorCount over the monthly cap (WeChat: "sending
	// to that user fails").
	TotalCount  int       `json:"total_count"`
	FilterCount int       `json:"filter_count"`
	SentCount   int       `json:"sent_count"`
	ErrorCount  int       `json:"error_count"`
	Status      string    `json:"status"` // "send success", or "send fail" when nobody received it
	At          time.Time `json:"at"`
}

// massState is an app's mass-send bookkeeping.
type massState struct {
	sends    []MassSend
	byClient map[string]int // clientmsgid -> index in sends
	minute   time.Time      // the calendar minute calls counts
	calls    int
	received map[string]int // openid + "\x00" + YYYY-MM -> mass sends received
	cap      int            // per follower a month; 0 = none
	dataID   int64
}

// massLocked returns a's mass-send state, creating it on first use.
func (a *app) massLocked() *massState {
	if a.mass == nil {
		a.mass = &massState{byClient: map[string]int{}, received: map[string]int{}, cap: DefaultMassMonthlyCap, dataID: 2247480000}
	}
	return a.mass
}

// SetMassMonthlyCap sets how many mass sends each follower of appID
// receives a natural month: 4 on a service account (the default), 0 for no
// cap (a subscription account, which WeChat limits per day instead).
func (s *Sim) SetMassMonthlyCap(appID string, n int) {
	s.withApp(appID, func(a *app) { a.massLocked().cap = max(n, 0) })
}

// MassSends returns the mass sends appID made, oldest first.
func (s *Sim) MassSends(appID string) []MassSend {
	var out []MassSend
	s.withApp(appID, func(a *app) {
		out = slices.Clone(a.massLocked().sends)
		for i := range out {
			out[i].ToUsers = slices.Clone(out[i].ToUsers)
			out[i].Delivered = slices.Clone(out[i].Delivered)
		}
	})
	return out
}

// handleMassSend is POST /cgi-bin/message/mass/send. The answer only says
// the job was taken; the outcome is pushed to the webhook afterwards as
// MASSSENDJOBFINISH.
func (s *Sim) handleMassSend(req *apiReq) reply {
	var in struct {
		ToUser  []string `json:"touser"`
		MsgType string   `json:"msgtype"`
		Text    struct {
			Content string `json:"content"`
		} `json:"text"`
		MPNews struct {
			MediaID string `json:"media_id"`
		} `json:"mpnews"`
		SendIgnoreReprint int    `json:"send_ignore_reprint"`
		ClientMsgID       string `json:"clientmsgid"`
	}
	if code := decode(req.body, &in); code != 0 {
		return errReply(code)
	}
	a := s.appLocked(req.appID)
	m := a.massLocked()
	if minute := req.now.Truncate(time.Minute); !minute.Equal(m.minute) {
		m.minute, m.calls = minute, 0
	}
	if m.calls >= massPerMinute {
		return errReply(45011)
	}
	m.calls++
	if code := checkMass(len(in.ToUser), in.MsgType, in.Text.Content, in.MPNews.MediaID); code != 0 {
		return errReply(code)
	}
	if i, ok := m.byClient[in.ClientMsgID]; ok && in.ClientMsgID != "" && req.now.Sub(m.sends[i].At) < massDedupe {
		// WeChat sends nothing again and says so: 45065 "clientmsgid
		// exist", with the first send's msg_id (and no msg_data_id).
		first := m.sends[i]
		r := jsonReply(map[string]any{"errcode": 45065, "errmsg": errmsg(45065) + " rid: " + rid(), "msg_id": first.MsgID})
		r.errcode, r.dedupe = 45065, true
		return r
	}
	s.msgID++
	m.dataID++
	send := MassSend{MsgID: s.msgID, MsgDataID: m.dataID, ClientMsgID: in.ClientMsgID, MsgType: in.MsgType,
		Text: in.Text.Content, MediaID: in.MPNews.MediaID, IgnoreReprint: in.SendIgnoreReprint == 1,
		ToUsers: slices.Clone(in.ToUser), At: req.now}
	s.deliverMassLocked(a, m, &send)
	m.sends = append(m.sends, send)
	if in.ClientMsgID != "" {
		m.byClient[in.ClientMsgID] = len(m.sends) - 1
	}
	r := massAccepted(send.MsgID, send.MsgDataID)
	if a.webhook != nil {
		p, oa := a.webhook, a.origID
		r.after = func() {
			s.async(func(ctx context.Context) {
				if _, err := p.Push(ctx, MassSendJobFinish(oa, s.now(), send).XML()); err != nil {
					s.log.Warn("wechatsim mass job-finish push failed", "app_id", req.appID, "msg_id", send.MsgID, "err", err)
				}
			})
		}
	}
	return r
}

// checkMass returns WeChat's errcode for a mass send it refuses, 0 if none.
func checkMass(recipients int, msgType, text, mediaID string) int {
	switch {
	case recipients < massMinTo:
		return 40130 // "invalid openid list size, at least two openid"
	case recipients > massMaxTo:
		return 40032
	}
	switch msgType {
	case "text":
		if text == "" {
			return 44004
		}
	case "mpnews":
		if mediaID == "" {
			return 40007
		}
	default:
		return 40008
	}
	return 0
}

// deliverMassLocked decides who receives send and counts it against each
// receiver's month.
func (s *Sim) deliverMassLocked(a *app, m *massState, send *MassSend) {
	month := send.At.In(beijing).Format("2006-01")
	seen := map[string]bool{}
	for _, o := range send.ToUsers {
		if seen[o] {
			continue
		}
		seen[o] = true
		send.TotalCount++
		if f, ok := a.followers[o]; !ok || !f.subscribed {
			continue
		}
		send.FilterCount++
		key := o + "\x00" + month
		if m.cap > 0 && m.received[key] >= m.cap {
			send.ErrorCount++
			continue
		}
		m.received[key]++
		send.SentCount++
		send.Delivered = append(send.Delivered, o)
	}
	send.Status = "send success"
	if send.SentCount == 0 {
		send.Status = "send fail"
	}
}

func massAccepted(msgID, dataID int64) reply {
	return jsonReply(map[string]any{"errcode": 0, "errmsg": "send job submission success", "msg_id": msgID, "msg_data_id": dataID})
}

// MassSendJobFinish is the event WeChat pushes once mass send m has gone
// out, from the OA's mass-send assistant.
func MassSendJobFinish(oa string, at time.Time, m MassSend) Message {
	msg := event(oa, MassAssistantOpenID, at, EventMassJob)
	msg.MsgID, msg.Status = m.MsgID, m.Status
	msg.Mass = &MassCounts{Total: m.TotalCount, Filter: m.FilterCount, Sent: m.SentCount, Error: m.ErrorCount}
	return msg
}

// MassCounts are the counts of a MASSSENDJOBFINISH.
type MassCounts struct {
	Total, Filter, Sent, Error int
}

// writeMassJob writes the fields of a MASSSENDJOBFINISH.
func (m Message) writeMassJob(w *xmlWriter) {
	c := m.Mass
	if c == nil {
		c = &MassCounts{}
	}
	w.raw("MsgID", strconv.FormatInt(m.MsgID, 10))
	w.cdata("Status", m.Status)
	w.raw("TotalCount", strconv.Itoa(c.Total))
	w.raw("FilterCount", strconv.Itoa(c.Filter))
	w.raw("SentCount", strconv.Itoa(c.Sent))
	w.raw("ErrorCount", strconv.Itoa(c.Error))
}

// handleSimMass is GET /_sim/mass?app_id=A: A's mass sends.
func (s *Sim) handleSimMass(w http.ResponseWriter, r *http.Request) {
	appID := r.URL.Query().Get("app_id")
	if !needApp(w, appID) {
		return
	}
	out := s.MassSends(appID)
	if out == nil {
		out = []MassSend{}
	}
	writeJSON(w, http.StatusOK, out)
}
