package wechatsim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoWebhook is returned by the Sim's push methods when SetWebhook was not
// called for the app.
var ErrNoWebhook = errors.New("wechatsim: no webhook set for this app")

// ErrUnknownTicket is returned by ScanQRCode for a ticket the app never
// created or that has expired.
var ErrUnknownTicket = errors.New("wechatsim: unknown or expired QR ticket")

// AddUser records f as a user the app knows but who does not follow (yet):
// a later subscribe pushed through the Sim keeps f's UnionID and details.
func (s *Sim) AddUser(appID string, f Follower) {
	s.withApp(appID, func(a *app) {
		nf := s.followLocked(a, f)
		nf.subscribed = false
	})
}

// Push plays a follower: it applies m's effect to the Sim's state, then
// pushes m to appID's webhook (see SetWebhook) and returns the reply. An
// empty m.ToUserName is filled with the app's OriginalID, a zero CreateTime
// with the Sim's now. Effects: subscribe
// makes the sender follow (scene from EventKey), unsubscribe unfollows, a
// subscribe_msg_popup_event grants one consent per accepted template, and
// every message or action except LOCATION reopens the customer-service
// window. Without a webhook the state still changes and ErrNoWebhook is
// returned.
func (s *Sim) Push(ctx context.Context, appID string, m Message) (*Reply, error) {
	var p *Pusher
	s.withApp(appID, func(a *app) {
		if m.ToUserName == "" {
			m.ToUserName = a.origID
		}
		if m.CreateTime.IsZero() {
			m.CreateTime = s.now()
		}
		s.applyLocked(a, m)
		p = a.webhook
	})
	if p == nil {
		return nil, ErrNoWebhook
	}
	return p.Push(ctx, m.XML())
}

// applyLocked changes the Sim's state the way the follower's action changes
// WeChat's.
func (s *Sim) applyLocked(a *app, m Message) {
	f := a.followers[m.FromUserName]
	switch {
	case m.MsgType == MsgTypeEvent && m.Event == EventSubscribe:
		nf := Follower{OpenID: m.FromUserName, SubscribeTime: m.CreateTime}
		if f != nil {
			nf.UnionID, nf.Language, nf.Remark = f.UnionID, f.Language, f.Remark
		}
		if scene, ok := strings.CutPrefix(m.EventKey, "qrscene_"); ok {
			nf.SubscribeScene = "ADD_SCENE_QR_CODE"
			nf.QRScene, nf.QRSceneStr = sceneFields(a, m.Ticket, scene)
		}
		s.followLocked(a, nf)
	case f == nil:
	case m.MsgType == MsgTypeEvent && m.Event == EventUnsubscribe:
		f.subscribed = false
	case m.MsgType == MsgTypeEvent && m.Event == EventSubscribePopup:
		for _, it := range m.Popup {
			if it.SubscribeStatusString == "accept" {
				grantLocked(a, m.FromUserName, it.TemplateId)
			}
		}
	case m.MsgType == MsgTypeEvent && (m.Event == EventLocation || m.Event == EventTemplateJob):
		// A location report or a delivery receipt is not the follower talking.
	default:
		f.windowClosed = false
	}
}

// sceneFields splits a QR scene into user/info's qr_scene (numeric scene_id
// codes) and qr_scene_str (string codes).
func sceneFields(a *app, ticket, scene string) (int, string) {
	if i, ok := a.tickets[ticket]; ok {
		qr := a.qrcodes[i]
		if qr.SceneStr == "" {
			return int(qr.SceneID), ""
		}
		return 0, qr.SceneStr
	}
	if n, err := strconv.Atoi(scene); err == nil {
		return n, ""
	}
	return 0, scene
}

// ScanQRCode plays openID scanning a QR code appID created: a follower
// pushes SCAN with the bare scene, anyone else subscribe with
// qrscene_<scene>, both with the real ticket. An unknown or expired ticket
// returns ErrUnknownTicket and pushes nothing.
func (s *Sim) ScanQRCode(ctx context.Context, appID, openID, ticket string) (*Reply, error) {
	var m Message
	var err error
	s.withApp(appID, func(a *app) {
		i, ok := a.tickets[ticket]
		if !ok {
			err = ErrUnknownTicket
			return
		}
		qr, now := a.qrcodes[i], s.now()
		if !qr.Permanent && !now.Before(qr.ExpiresAt) {
			err = ErrUnknownTicket
			return
		}
		if f, ok := a.followers[openID]; ok && f.subscribed {
			m = Scan(a.origID, openID, now, qr.Scene)
		} else {
			m = Subscribe(a.origID, openID, now, qr.Scene)
		}
		m.Ticket = ticket
	})
	if err != nil {
		return nil, err
	}
	return s.Push(ctx, appID, m)
}

// PushJobFinish pushes the TEMPLATESENDJOBFINISH event for template message
// msgID of appID with status (success, "failed:user block", "failed: system
// failed"). An unknown msgID returns an error and pushes nothing.
func (s *Sim) PushJobFinish(ctx context.Context, appID string, msgID int64, status string) (*Reply, error) {
	var to string
	s.withApp(appID, func(a *app) {
		for _, t := range a.templates {
			if t.MsgID == msgID {
				to = t.ToUser
			}
		}
	})
	if to == "" {
		return nil, fmt.Errorf("wechatsim: app %s sent no template message %d", appID, msgID)
	}
	return s.Push(ctx, appID, TemplateSendJobFinish("", to, s.now(), msgID, status))
}
