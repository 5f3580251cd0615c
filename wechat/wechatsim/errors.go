package wechatsim

import (
	"fmt"
	mrand "math/rand/v2"
)

type apiError struct {
	Errcode int    `json:"errcode"`
	Errmsg  string `json:"errmsg"`
}

// errReply answers errcode with WeChat's errmsg and a rid suffix, as live
// WeChat does (clients must match the errcode, not the errmsg).
func errReply(code int) reply {
	r := jsonReply(apiError{Errcode: code, Errmsg: errmsg(code) + " rid: " + rid()})
	r.errcode = code
	return r
}

func rid() string {
	return fmt.Sprintf("%08x-%08x-%08x", mrand.Uint32(), mrand.Uint32(), mrand.Uint32())
}

// errmsg returns WeChat's errmsg text for code.
func errmsg(code int) string {
	switch code {
	case -1:
		return "system error"
	case 40001:
		return "invalid credential, access_token is invalid or not latest"
	case 40002:
		return "invalid grant_type"
	case 40003:
		return "invalid openid"
	case 40007:
		return "invalid media_id"
	case 40008:
		return "invalid message type"
	case 40013:
		return "invalid appid"
	case 40014:
		return "invalid access_token"
	case 40029:
		return "invalid code"
	case 40032:
		return "invalid openid list size"
	case 40037:
		return "invalid template_id"
	case 40052:
		return "invalid action name"
	case 40053:
		return "invalid action info, please check document"
	case 40066:
		return "invalid url"
	case 40097:
		return "invalid args"
	case 40125:
		return "invalid appsecret"
	case 40129:
		return "invalid scene"
	case 40130:
		return "invalid openid list size, at least two openid"
	case 40163:
		return "code been used"
	case 40169:
		return "invalid length for scene, or the data is not json string"
	case 41001:
		return "access_token missing"
	case 41002:
		return "appid missing"
	case 41004:
		return "appsecret missing"
	case 41008:
		return "missing code"
	case 41030:
		return "invalid page"
	case 42001:
		return "access_token expired"
	case 43002:
		return "require POST method"
	case 43004:
		return "require subscribe"
	case 43101:
		return "user refuse to accept the msg"
	case 44002:
		return "empty post data"
	case 44004:
		return "empty content"
	case 45009:
		return "reach max api daily quota limit"
	case 45011:
		return "api minute-quota reach limit  mustslower  retry next minute"
	case 45015:
		return "response out of time limit or subscription is canceled"
	case 45028:
		return "has no masssend quota"
	case 45065:
		return "clientmsgid exist"
	case 45029:
		return "qrcode count out of limit"
	case 45047:
		return "out of response count limit"
	case 45056:
		return "too many tags now"
	case 45059:
		return "tag number exceeded limits"
	case 45157:
		return "invalid tag name"
	case 45158:
		return "tag name too long"
	case 45159:
		return "invalid tag id"
	case 47001:
		return "data format error"
	case 47003:
		return "argument invalid!"
	case 48001:
		return "api unauthorized"
	}
	return "error"
}
