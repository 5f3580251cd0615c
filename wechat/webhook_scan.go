package wechat

import (
	"bytes"
	"unicode/utf8"
)

// scanPush is the webhook's fast path: it reads the pushes WeChat sends
// (one <xml> root of flat elements whose content is text and CDATA) into p
// without encoding/xml, which costs about as much CPU as the rest of a
// push's handling (reflection, a token per element, an allocation per
// token). It reports false, leaving p to be filled by xml.Unmarshal, for
// anything else: a declaration, a comment, attributes, nested elements (the
// subscribe-message popup list), entity or character references, a
// carriage return (which XML turns into a newline), a character XML
// forbids, or something after </xml>. It never accepts what encoding/xml
// refuses, and what it accepts it reads exactly as encoding/xml does:
// FuzzScanPush checks both.
func scanPush(b []byte, p *pushXML) bool {
	return scanFlat(b, func(name, v []byte) bool { return setPushField(p, name, v) })
}

// scanEnvelope is scanPush for the outer XML of a safe-mode push.
func scanEnvelope(b []byte, env *envelope) bool {
	return scanFlat(b, func(name, v []byte) bool {
		switch string(name) {
		case "ToUserName":
			env.ToUserName = string(v)
		case "Encrypt":
			env.Encrypt = string(v)
		}
		return true
	})
}

// scanFlat calls set with each child element's name and content, in
// order; set reports false to leave the document to encoding/xml.
func scanFlat(b []byte, set func(name, v []byte) bool) bool {
	i := skipSpace(b, 0)
	if !bytes.HasPrefix(b[i:], []byte("<xml>")) {
		return false
	}
	i += len("<xml>")
	var val []byte // content of an element made of several segments
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '<' {
			return false
		}
		if bytes.HasPrefix(b[i:], []byte("</xml>")) {
			return skipSpace(b, i+len("</xml>")) == len(b)
		}
		// <Name>
		j := i + 1
		if j >= len(b) || !isNameStart(b[j]) {
			return false
		}
		for j < len(b) && isNameByte(b[j]) {
			j++
		}
		if j >= len(b) || b[j] != '>' {
			return false
		}
		name := b[i+1 : j]
		i = j + 1
		// Content: text and CDATA segments up to </Name>.
		var one []byte
		segs := 0
		val = val[:0]
		for {
			if i >= len(b) {
				return false
			}
			var seg []byte
			if b[i] == '<' {
				switch {
				case bytes.HasPrefix(b[i:], []byte("<![CDATA[")):
					end := bytes.Index(b[i+9:], []byte("]]>"))
					if end < 0 {
						return false
					}
					seg = b[i+9 : i+9+end]
					i += 9 + end + 3
				case i+1 < len(b) && b[i+1] == '/':
					k := i + 2 + len(name)
					if k >= len(b) || b[k] != '>' || !bytes.Equal(b[i+2:k], name) {
						return false
					}
					i = k + 1
				default:
					return false // a nested element, a comment, ...
				}
				if seg == nil {
					break // the end tag
				}
			} else {
				end := bytes.IndexByte(b[i:], '<')
				if end < 0 {
					return false
				}
				seg = b[i : i+end]
				i += end
				if bytes.IndexByte(seg, '&') >= 0 || bytes.Contains(seg, []byte("]]>")) {
					return false
				}
			}
			if !plainChars(seg) {
				return false
			}
			switch segs {
			case 0:
				one = seg
			case 1:
				val = append(append(val, one...), seg...)
			default:
				val = append(val, seg...)
			}
			segs++
		}
		if segs > 1 {
			one = val
		}
		if !set(name, one) {
			return false
		}
	}
}

// setPushField stores the content of the element name in p; unknown names
// are skipped, as encoding/xml skips them. It reports false for the
// elements the fast path leaves to encoding/xml.
func setPushField(p *pushXML, name, v []byte) bool {
	s := func() string { return string(v) }
	switch string(name) {
	case "ToUserName":
		p.ToUserName = s()
	case "FromUserName":
		p.FromUserName = s()
	case "CreateTime":
		p.CreateTime = s()
	case "MsgType":
		p.MsgType = s()
	case "Event":
		p.Event = s()
	case "MsgId":
		p.MsgID = s()
	case "MsgID":
		p.TemplMsgID = s()
	case "EventKey":
		p.EventKey = s()
	case "Ticket":
		p.Ticket = s()
	case "Content":
		p.Content = s()
	case "Latitude":
		p.Latitude = s()
	case "Longitude":
		p.Longitude = s()
	case "Precision":
		p.Precision = s()
	case "Location_X":
		p.LocationX = s()
	case "Location_Y":
		p.LocationY = s()
	case "Scale":
		p.Scale = s()
	case "Label":
		p.Label = s()
	case "PicUrl":
		p.PicURL = s()
	case "MediaId":
		p.MediaID = s()
	case "MenuId":
		p.MenuID = s()
	case "Status":
		p.Status = s()
	case "TotalCount":
		p.TotalCount = s()
	case "FilterCount":
		p.FilterCount = s()
	case "SentCount":
		p.SentCount = s()
	case "ErrorCount":
		p.ErrorCount = s()
	case "SubscribeMsgPopupEvent":
		return false // a list inside: encoding/xml reads it
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n') {
		i++
	}
	return i
}

// isNameStart and isNameByte accept the ASCII element names WeChat uses
// (no namespace prefixes: a colon goes to encoding/xml).
func isNameStart(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' }

func isNameByte(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' || c == '-' || c == '.' }

// plainChars reports whether s is UTF-8 of characters XML allows, without
// a carriage return (encoding/xml rewrites CR and CRLF as LF).
func plainChars(s []byte) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if !(r >= 0x80 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
		i += size
	}
	return true
}
