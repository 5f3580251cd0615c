package wechat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/silenceper/wechat/v2/util"

	"github.com/omohq/omo/errs"
)

// APIError is a WeChat answer that carried a non-zero errcode. Every method of
// Client returns one, inside an *errs.Error that gives its kind, when WeChat
// refused the call, whether the call went through silenceper or was made here.
type APIError struct {
	Code int    // WeChat errcode, e.g. 40001
	Msg  string // WeChat errmsg, as sent
	Op   string // the Client operation, e.g. "user_info" or "stable_token"
}

// Error implements error as "wechat OP: errcode=N errmsg=MSG"; the errcode=N
// part keeps Code working on the text.
func (e *APIError) Error() string {
	return fmt.Sprintf("wechat %s: errcode=%d errmsg=%s", e.Op, e.Code, e.Msg)
}

// Errcode returns the WeChat errcode. It lets packages that must not import
// wechat (the worker) find the code with errors.As on interface{ Errcode() int }.
func (e *APIError) Errcode() int { return e.Code }

// ErrNotConfigured is returned (wrapped) by calls to an app, the Official
// Account or the mini-program, whose app id and secret are not configured.
var ErrNotConfigured = errors.New("app not configured")

// ErrInvalid is returned (wrapped) when an argument breaks a WeChat limit
// that is checked before calling, e.g. a QR scene over 64 characters.
var ErrInvalid = errors.New("invalid argument")

// HTTPError is a non-200 HTTP answer from a call made here. silenceper's own
// status errors are plain text ("statusCode=502") and are read the same way.
type HTTPError struct {
	Status int
	Op     string
}

// Error implements error.
func (e *HTTPError) Error() string { return fmt.Sprintf("wechat %s: http status %d", e.Op, e.Status) }

var (
	// errcodeRE finds the code in silenceper's plain errors, which spell it
	// "errcode=40001", "errcode=40001 ," or (elsewhere) "errcode: 40001".
	errcodeRE = regexp.MustCompile(`errcode\s*[=:]\s*(-?\d+)`)
	errmsgRE  = regexp.MustCompile(`err(?:or)?msg\s*[=:]\s*(.*)$`)
	statusRE  = regexp.MustCompile(`statusCode\s*[=:]\s*(\d{3})`)
)

// Code returns the WeChat errcode carried by err, or 0 if there is none. It
// understands *APIError, silenceper's *util.CommonError and silenceper's plain
// errors whose text holds "errcode=N" or "errcode: N". Transport failures and
// HTTP statuses have no errcode (0); they still get a kind (see kindOf).
func Code(err error) int {
	if err == nil {
		return 0
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	var ce *util.CommonError
	if errors.As(err, &ce) {
		return int(ce.ErrCode)
	}
	if m := errcodeRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// errMsg returns the errmsg of a silenceper error, or its whole text.
func errMsg(err error) string {
	var ce *util.CommonError
	if errors.As(err, &ce) {
		return ce.ErrMsg
	}
	if m := errmsgRE.FindStringSubmatch(err.Error()); m != nil {
		return strings.TrimSpace(m[1])
	}
	return err.Error()
}

// refresh marks, in errcodeKind only, the errcodes that say WeChat refused
// the access token: withToken drops the token, gets a fresh one and calls
// once more. One that survives the retry reaches the caller as Unavailable.
// It is not one of errs' kinds and never leaves this package.
const refresh errs.Kind = -1

// errcodeKind is THE table from WeChat errcode to what omo does about it
// (DESIGN.md §6, FACTS.md "Error classes"); nothing else in omo maps
// errcodes to kinds (the mini-program login, login.go, only words its
// messages by code). The worker acts on the kinds: Unavailable and Other
// retry with backoff, Throttled retries slower, QuotaSpent pauses that kind
// of send until the quota resets, WindowClosed sends the fallback template,
// Gone and Invalid stop (worker/task.go). Where the two documents differ,
// §6 wins: 43004 (not following) and 40003 (bad openid) stop, they do not
// fall back. Errcodes not listed are Other.
var errcodeKind = map[int]errs.Kind{
	-1:    errs.Unavailable,  // system busy
	40001: refresh,           // invalid credential (token replaced or wrong)
	40014: refresh,           // invalid access_token
	42001: refresh,           // access_token expired
	45011: errs.Throttled,    // API minute frequency limit
	43117: errs.Throttled,    // call frequency limit
	45009: errs.QuotaSpent,   // daily API quota reached
	45015: errs.WindowClosed, // customer-service window expired
	45047: errs.WindowClosed, // customer-service message quota used up
	43004: errs.Gone,         // recipient does not follow
	43101: errs.Gone,         // user refused the subscribe notification / consent used
	40003: errs.Gone,         // invalid openid (not this account's follower)
	47003: errs.Invalid,      // template data or argument invalid
	40037: errs.Invalid,      // invalid template_id
	41030: errs.Invalid,      // invalid mini-program page
	48001: errs.Invalid,      // API not authorised for this account
	40013: errs.Invalid,      // invalid appid
	40125: errs.Invalid,      // invalid appsecret
	40164: errs.Invalid,      // caller IP not in the whitelist
	40029: errs.Invalid,      // invalid js_code
	40163: errs.Invalid,      // js_code already used
	40165: errs.Invalid,      // invalid mini-program path (url link)
	40097: errs.Invalid,      // invalid arguments
	44002: errs.Invalid,      // empty POST body
	41001: errs.Invalid,      // missing access_token
	45157: errs.Invalid,      // tag name exists (look it up with Tags)
	45159: errs.Invalid,      // unknown tag id
	// Mass send (message/mass/send), research/proactive.md §2.
	45028: errs.QuotaSpent, // no mass-send quota left: wait for it to reset
	40130: errs.Invalid,    // a mass send to an openid list needs at least two openids
	// 45065: the clientmsgid was used within 24 hours; SendMass reads the
	// first send's msg_id from the answer and reports it sent. Without a
	// msg_id there is nothing to record: stop, retrying answers the same.
	45065: errs.Invalid,
	// 89504, 89505: mass-send protection (API 群发保护) is on and the send
	// was not confirmed by an admin within 30 minutes (the two codes' exact
	// split is not documented): a person must act, retrying will not help.
	89504: errs.Invalid,
	89505: errs.Invalid,
}

// kindOf says what to do about err as a call returned it, before fail: by
// its errcode (errcodeKind, refresh included) if it has one, else by what it
// is: HTTP 429 Throttled, 5xx, timeouts and network failures Unavailable,
// other statuses and the argument checks Invalid, anything else (nil too)
// Other.
func kindOf(err error) errs.Kind {
	if err == nil {
		return errs.Other
	}
	if code := Code(err); code != 0 {
		return errcodeKind[code] // Other (0) if not listed
	}
	switch status := httpStatus(err); {
	case status == 429:
		return errs.Throttled
	case status >= 500:
		return errs.Unavailable
	case status != 0:
		return errs.Invalid
	}
	if errors.Is(err, ErrNotConfigured) || errors.Is(err, ErrInvalid) {
		return errs.Invalid
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &ne) {
		return errs.Unavailable
	}
	return errs.Other
}

// httpStatus returns the HTTP status of a non-200 answer, 0 if err is not one.
func httpStatus(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	if m := statusRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// secretRE matches the credentials silenceper and net/http put in error texts
// (the URL of a failed request): access tokens, app secrets, login codes.
var secretRE = regexp.MustCompile(`(access_token|secret|js_code)=[^&\s"]*`)

// redact returns err with every credential in its text replaced, keeping the
// chain (errors.Is/As still see timeouts and codes). A *url.Error in the chain
// is fixed in place (net/http makes a fresh one per request).
func redact(err error) error {
	if err == nil || !secretRE.MatchString(err.Error()) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = secretRE.ReplaceAllString(ue.URL, "$1=REDACTED")
		if !secretRE.MatchString(err.Error()) {
			return err
		}
	}
	return &redactedError{msg: secretRE.ReplaceAllString(err.Error(), "$1=REDACTED"), err: err}
}

// redactedError shows a cleaned text but keeps the original for errors.Is/As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// fail turns whatever a call returned into omo's shape: nil stays nil; an
// error fail already made passes through; anything else becomes an
// *errs.Error whose kind says what to do (kindOf; a refused token that got
// here is Unavailable) and whose cause names op: an *APIError or *HTTPError
// as it is, anything carrying an errcode as an *APIError for op, other
// errors wrapped with op. Credentials are redacted. The *errs.Error has no
// Op or Msg of its own, so the text is the cause's.
func fail(op string, err error) error {
	if err == nil {
		return nil
	}
	var done *errs.Error
	if errors.As(err, &done) {
		return err
	}
	err = redact(err)
	kind := kindOf(err)
	if kind == refresh {
		kind = errs.Unavailable
	}
	var ae *APIError
	var he *HTTPError
	switch code := Code(err); {
	case errors.As(err, &ae) || errors.As(err, &he):
		// already names its op
	case code != 0:
		err = &APIError{Code: code, Msg: errMsg(err), Op: op}
	default:
		err = fmt.Errorf("wechat %s: %w", op, err)
	}
	return errs.Wrap(kind, "", err)
}
