package wechatsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	qrMaxExpire     = 2592000 // 30 days
	qrDefaultExpire = 60
	wxaSceneMax     = 32
	// wxaSceneChars are the characters getwxacodeunlimit accepts in scene.
	wxaSceneChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$&'()*+,/:;=?@-._~"
)

// QRCode is one OA parametric QR code the Sim created.
type QRCode struct {
	Ticket        string    `json:"ticket"`
	ActionName    string    `json:"action_name"` // QR_SCENE, QR_STR_SCENE, QR_LIMIT_SCENE, QR_LIMIT_STR_SCENE
	SceneID       int64     `json:"scene_id"`
	SceneStr      string    `json:"scene_str"`
	Scene         string    `json:"scene"` // SceneStr, or SceneID in decimal: what EventKey carries
	Permanent     bool      `json:"permanent"`
	ExpireSeconds int       `json:"expire_seconds"` // 0 for permanent codes
	ExpiresAt     time.Time `json:"expires_at"`     // zero for permanent codes
	URL           string    `json:"url"`
	At            time.Time `json:"at"`
}

// MiniCode is one getwxacodeunlimit call the Sim answered with an image.
type MiniCode struct {
	Scene      string    `json:"scene"`
	Page       string    `json:"page"`
	CheckPath  bool      `json:"check_path"`
	EnvVersion string    `json:"env_version"`
	Width      int       `json:"width"`
	At         time.Time `json:"at"`
}

// URLLink is one generate_urllink the Sim answered.
type URLLink struct {
	Path       string    `json:"path"`
	Query      string    `json:"query"`
	EnvVersion string    `json:"env_version"`
	URLLink    string    `json:"url_link"`
	At         time.Time `json:"at"`
}

// handleQRCreate is POST /cgi-bin/qrcode/create.
func (s *Sim) handleQRCreate(req *apiReq) reply {
	var in struct {
		ExpireSeconds int    `json:"expire_seconds"`
		ActionName    string `json:"action_name"`
		ActionInfo    struct {
			Scene struct {
				SceneID  *int64 `json:"scene_id"`
				SceneStr string `json:"scene_str"`
			} `json:"scene"`
		} `json:"action_info"`
	}
	if code := decode(req.body, &in); code != 0 {
		return errReply(code)
	}
	a := s.appLocked(req.appID)
	qr := QRCode{ActionName: in.ActionName, At: req.now}
	sc := in.ActionInfo.Scene
	switch in.ActionName {
	case "QR_SCENE", "QR_LIMIT_SCENE":
		qr.Permanent = in.ActionName == "QR_LIMIT_SCENE"
		if sc.SceneID == nil || *sc.SceneID <= 0 ||
			(qr.Permanent && *sc.SceneID > 100000) || *sc.SceneID > 1<<32-1 {
			return errReply(40053)
		}
		qr.SceneID, qr.Scene = *sc.SceneID, strconv.FormatInt(*sc.SceneID, 10)
	case "QR_STR_SCENE", "QR_LIMIT_STR_SCENE":
		qr.Permanent = in.ActionName == "QR_LIMIT_STR_SCENE"
		if n := len(sc.SceneStr); n < 1 || n > 64 {
			return errReply(40053)
		}
		qr.SceneStr, qr.Scene = sc.SceneStr, sc.SceneStr
	default:
		return errReply(40052)
	}
	if qr.Permanent {
		if a.permanent >= s.permLimit {
			return errReply(45029)
		}
		a.permanent++
	} else {
		// WeChat's handling of expire_seconds over 30 days is not
		// documented; the Sim cuts it to 30 days and says so in the answer.
		qr.ExpireSeconds = min(in.ExpireSeconds, qrMaxExpire)
		if qr.ExpireSeconds <= 0 {
			qr.ExpireSeconds = qrDefaultExpire
		}
		qr.ExpiresAt = req.now.Add(time.Duration(qr.ExpireSeconds) * time.Second)
	}
	s.seq++
	qr.Ticket = newTicket(a.id, s.seq)
	qr.URL = "http://weixin.qq.com/q/" + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s%06d", a.id, s.seq)))
	a.tickets[qr.Ticket] = len(a.qrcodes)
	a.qrcodes = append(a.qrcodes, qr)
	out := map[string]any{"ticket": qr.Ticket, "url": qr.URL}
	if !qr.Permanent {
		out["expire_seconds"] = qr.ExpireSeconds
	}
	return jsonReply(out)
}

// newTicket returns a ticket shaped like WeChat's: standard base64 ending in
// "==" and always containing '+' and '/', so a client that does not
// URL-encode it for showqrcode gets it wrong every time, not now and then.
func newTicket(appID string, seq int64) string {
	b := []byte{0x81, 0x01, 0x00, 0xfb, 0xff, 0xbf} // "gQEA+/+/"
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	sum := sha256.Sum256([]byte(appID))
	b = append(b, sum[:8]...)
	return base64.StdEncoding.EncodeToString(b)
}

// handleShowQRCode is GET /cgi-bin/showqrcode?ticket=T (mp.weixin.qq.com):
// the image, or 404 for an unknown or expired ticket.
func (s *Sim) handleShowQRCode(req *apiReq) reply {
	ticket := req.query.Get("ticket")
	for _, a := range s.apps {
		i, ok := a.tickets[ticket]
		if !ok {
			continue
		}
		req.appID = a.id
		qr := a.qrcodes[i]
		if !qr.Permanent && !req.now.Before(qr.ExpiresAt) {
			break
		}
		return imageReply(ticket, 430)
	}
	return reply{status: http.StatusNotFound, ctype: "text/html; charset=utf-8", body: []byte("<html><body>404 Not Found</body></html>")}
}

// handleWxaCodeUnlimit is POST /wxa/getwxacodeunlimit: image bytes with
// Content-Type image/jpeg, or JSON errors (40169 scene length or body not
// JSON, 40129 scene characters, 41030 page).
func (s *Sim) handleWxaCodeUnlimit(req *apiReq) reply {
	in := struct {
		Scene      string `json:"scene"`
		Page       string `json:"page"`
		CheckPath  *bool  `json:"check_path"`
		EnvVersion string `json:"env_version"`
		Width      int    `json:"width"`
	}{}
	if len(req.body) == 0 || json.Unmarshal(req.body, &in) != nil {
		return errReply(40169)
	}
	if n := len(in.Scene); n < 1 || n > wxaSceneMax {
		return errReply(40169)
	}
	for _, c := range in.Scene {
		if !strings.ContainsRune(wxaSceneChars, c) {
			return errReply(40129)
		}
	}
	switch in.EnvVersion {
	case "", "release", "trial", "develop":
	default:
		return errReply(40097)
	}
	a := s.appLocked(req.appID)
	check := in.CheckPath == nil || *in.CheckPath
	if strings.HasPrefix(in.Page, "/") || (check && in.Page != "" && len(a.pages) > 0 && !a.pages[in.Page]) {
		return errReply(41030)
	}
	width := in.Width
	if width == 0 {
		width = 430
	}
	width = min(max(width, 280), 1280)
	a.miniCodes = append(a.miniCodes, MiniCode{Scene: in.Scene, Page: in.Page, CheckPath: check,
		EnvVersion: in.EnvVersion, Width: width, At: req.now})
	return imageReply(in.Page+"?"+in.Scene, width)
}

// handleURLLink is POST /wxa/generate_urllink.
func (s *Sim) handleURLLink(req *apiReq) reply {
	var in struct {
		Path       string `json:"path"`
		Query      string `json:"query"`
		EnvVersion string `json:"env_version"`
	}
	if code := decode(req.body, &in); code != 0 {
		return errReply(code)
	}
	switch in.EnvVersion {
	case "", "release", "trial", "develop":
	default:
		return errReply(40097)
	}
	a := s.appLocked(req.appID)
	s.seq++
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", a.id, s.seq)))
	link := "https://wxaurl.cn/" + base64.RawURLEncoding.EncodeToString(sum[:9])
	a.urlLinks = append(a.urlLinks, URLLink{Path: in.Path, Query: in.Query, EnvVersion: in.EnvVersion, URLLink: link, At: req.now})
	return jsonReply(map[string]any{"errcode": 0, "errmsg": "ok", "url_link": link})
}

// imageReply answers a small real JPEG whose pattern depends on seed, with
// Content-Type image/jpeg exactly, as WeChat does.
func imageReply(seed string, size int) reply {
	const modules = 21
	scale := max(size/modules/4, 2)
	img := image.NewGray(image.Rect(0, 0, modules*scale, modules*scale))
	sum := sha256.Sum256([]byte(seed))
	for y := range modules {
		for x := range modules {
			bit := sum[(y*modules+x)/8%len(sum)] >> uint((y*modules+x)%8) & 1
			c := color.Gray{Y: 255}
			if bit == 1 {
				c = color.Gray{Y: 0}
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray(x*scale+dx, y*scale+dy, c)
				}
			}
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		return errReply(-1)
	}
	return reply{status: http.StatusOK, ctype: "image/jpeg", body: b.Bytes()}
}

// QRCodes returns the OA QR codes appID created, oldest first.
func (s *Sim) QRCodes(appID string) []QRCode {
	var out []QRCode
	s.withApp(appID, func(a *app) { out = slices.Clone(a.qrcodes) })
	return out
}

// MiniCodes returns the mini-program codes appID generated, oldest first.
func (s *Sim) MiniCodes(appID string) []MiniCode {
	var out []MiniCode
	s.withApp(appID, func(a *app) { out = slices.Clone(a.miniCodes) })
	return out
}

// URLLinks returns the URL links appID generated, oldest first.
func (s *Sim) URLLinks(appID string) []URLLink {
	var out []URLLink
	s.withApp(appID, func(a *app) { out = slices.Clone(a.urlLinks) })
	return out
}
