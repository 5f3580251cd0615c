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
)

// APIError is a WeChat answer that carried a non-zero errcode. Every method of
// Client returns one (possibly wrapped) when WeChat refused the call, whether
// the call went through silenceper or was made here.
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

// ErrNotConfigured is returned (wrapped) by calls to an app, the Official
// Account or the mini-program, whose app id and secret are not configured.
var ErrNotConfigured = errors.New("app not configured")

// ErrInvalid is returned (wrapped) when an argument breaks a WeChat limit
// that is checked before calling, e.g. a QR scene over 64 characters.
var ErrInvalid = errors.New("invalid argument")

// HTTPError is a non-200 HTTP answer from a call made here. silenceper's own
// status errors are plain text ("statusCode=502") and Classify reads them too.
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
// HTTP statuses have no errcode (0); Classify still classes them.
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

// Class says what a caller should do about an error from Client.
type Class int

// The classes. A ClassRefresh error that reaches the caller means the
// refresh-and-retry-once already happened and failed again: treat it as
// ClassRetry.
const (
	ClassNone     Class = iota // nil error
	ClassUnknown               // unrecognised: retry with backoff a bounded number of times
	ClassRetry                 // WeChat busy or unreachable (-1, 5xx, timeout, network): retry soon
	ClassRefresh               // access token invalid or expired (40001, 40014, 42001)
	ClassBackoff               // called too often (45011, 43117, HTTP 429): retry later, slower
	ClassQuota                 // daily quota spent (45009): pause this kind of send until it resets
	ClassFallback              // customer-service window closed or used up (45015, 45047): use a template instead
	ClassStop                  // follower gone or refused (43004, 43101, 40003): record it, never retry
	ClassConfig                // the request or omo's configuration is wrong: retrying will not help
)

var classNames = [...]string{"none", "unknown", "retry", "refresh", "backoff", "quota", "fallback", "stop", "config"}

// String returns the class name used in logs and metrics.
func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// errcodeClass is THE table from WeChat errcode to Class (DESIGN.md §6,
// FACTS.md "Error classes"); nothing else in omo maps errcodes. Where the two
// documents differ, §6 wins: 43004 (not following) and 40003 (bad openid)
// stop, they do not fall back.
var errcodeClass = map[int]Class{
	-1:    ClassRetry,    // system busy
	40001: ClassRefresh,  // invalid credential (token replaced or wrong)
	40014: ClassRefresh,  // invalid access_token
	42001: ClassRefresh,  // access_token expired
	45011: ClassBackoff,  // API minute frequency limit
	43117: ClassBackoff,  // call frequency limit
	45009: ClassQuota,    // daily API quota reached
	45015: ClassFallback, // customer-service window expired
	45047: ClassFallback, // customer-service message quota used up
	43004: ClassStop,     // recipient does not follow
	43101: ClassStop,     // user refused the subscribe notification / consent used
	40003: ClassStop,     // invalid openid (not this account's follower)
	47003: ClassConfig,   // template data or argument invalid
	40037: ClassConfig,   // invalid template_id
	41030: ClassConfig,   // invalid mini-program page
	48001: ClassConfig,   // API not authorised for this account
	40013: ClassConfig,   // invalid appid
	40125: ClassConfig,   // invalid appsecret
	40164: ClassConfig,   // caller IP not in the whitelist
	40029: ClassConfig,   // invalid js_code
	40163: ClassConfig,   // js_code already used
	40165: ClassConfig,   // invalid mini-program path (url link)
	40097: ClassConfig,   // invalid arguments
	44002: ClassConfig,   // empty POST body
	41001: ClassConfig,   // missing access_token
	45157: ClassConfig,   // tag name exists (look it up with Tags)
	45159: ClassConfig,   // unknown tag id
	// Mass send (message/mass/send), research/proactive.md §2.
	45028: ClassQuota,  // no mass-send quota left: wait for it to reset
	40130: ClassConfig, // a mass send to an openid list needs at least two openids
	// 89504, 89505: mass-send protection (API 群发保护) is on and the send
	// was not confirmed by an admin within 30 minutes (the two codes' exact
	// split is not documented): a person must act, retrying will not help.
	89504: ClassConfig,
	89505: ClassConfig,
}

// Classify returns what to do about err; see Class. Unknown errcodes are
// ClassUnknown; errors without an errcode are classed by what they are
// (timeout, network, HTTP status, argument checks).
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	if code := Code(err); code != 0 {
		if c, ok := errcodeClass[code]; ok {
			return c
		}
		return ClassUnknown
	}
	switch status := httpStatus(err); {
	case status == 429:
		return ClassBackoff
	case status >= 500:
		return ClassRetry
	case status != 0:
		return ClassConfig
	}
	if errors.Is(err, ErrNotConfigured) || errors.Is(err, ErrInvalid) {
		return ClassConfig
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &ne) {
		return ClassRetry
	}
	return ClassUnknown
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

// fail turns whatever a call returned into omo's shape: nil stays nil, an
// *APIError or *HTTPError passes through, anything carrying an errcode becomes an *APIError
// for op, other errors are wrapped with op and redacted.
func fail(op string, err error) error {
	if err == nil {
		return nil
	}
	err = redact(err)
	var ae *APIError
	var he *HTTPError
	if errors.As(err, &ae) || errors.As(err, &he) {
		return err // already names its op
	}
	if code := Code(err); code != 0 {
		return &APIError{Code: code, Msg: errMsg(err), Op: op}
	}
	return fmt.Errorf("wechat %s: %w", op, err)
}
