package wechat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/silenceper/wechat/v2/util"

	"github.com/omohq/omo/errs"
)

// timeoutErr is what net/http reports when a deadline hits mid-exchange.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestCodeAndKind(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		code int
		kind errs.Kind // as the call returned it; refresh reaches the caller as Unavailable
	}{
		// the shapes silenceper v2.1.10 returns
		{"CommonError", util.NewCommonError("BatchTag", 40001, "invalid credential"), 40001, refresh},
		{"CommonError wrapped", fmt.Errorf("tag: %w", util.NewCommonError("SendSubscribeMessage", 43101, "user refuse to accept the msg")), 43101, errs.Gone},
		{"user info text", fmt.Errorf("GetUserInfo Error , errcode=%d , errmsg=%s", 40003, "invalid openid"), 40003, errs.Gone},
		{"template text", fmt.Errorf("template msg send error : errcode=%v , errmsg=%v", 45009, "reach max api daily quota limit"), 45009, errs.QuotaSpent},
		{"custom text", fmt.Errorf("customer msg send error : errcode=%v , errmsg=%v", 45015, "response out of time limit"), 45015, errs.WindowClosed},
		{"customer quota", errors.New("customer msg send error : errcode=45047 , errmsg=out of response count limit"), 45047, errs.WindowClosed},
		{"not following", errors.New("template msg send error : errcode=43004 , errmsg=require subscribe"), 43004, errs.Gone},
		{"stable token text", errors.New("get stable access_token error : errcode=-1 , errormsg=system error"), -1, errs.Unavailable},
		{"colon style", errors.New("something failed, errcode: 42001, errmsg: access_token expired"), 42001, refresh},
		{"40014", errors.New("errcode=40014 , errmsg=invalid access_token"), 40014, refresh},
		{"fetchCode text", fmt.Errorf("fetchCode error : errcode=%v , errmsg=%v", 41030, "invalid page"), 41030, errs.Invalid},
		{"frequency", errors.New("errcode=45011 , errmsg=api minute-quota reach limit"), 45011, errs.Throttled},
		{"43117", errors.New("errcode=43117"), 43117, errs.Throttled},
		{"template id", errors.New("errcode=40037 , errmsg=invalid template_id"), 40037, errs.Invalid},
		{"argument", errors.New("errcode=47003 , errmsg=argument invalid! data.thing1.value invalid"), 47003, errs.Invalid},
		{"unauthorised", errors.New("errcode=48001 , errmsg=api unauthorized"), 48001, errs.Invalid},
		{"unknown code", errors.New("errcode=99999 , errmsg=new in 2027"), 99999, errs.Other},
		// built here
		{"APIError", &APIError{Code: 40001, Msg: "invalid credential", Op: "user_info"}, 40001, refresh},
		{"APIError wrapped", fmt.Errorf("send: %w", &APIError{Code: 45011, Op: "template_send"}), 45011, errs.Throttled},
		{"HTTPError 502", &HTTPError{Status: 502, Op: "showqrcode"}, 0, errs.Unavailable},
		{"HTTPError 429", &HTTPError{Status: 429}, 0, errs.Throttled},
		{"HTTPError 404", &HTTPError{Status: 404}, 0, errs.Invalid},
		// silenceper's status errors are text
		{"status text 503", errors.New("http get error : uri=https://api.weixin.qq.com/cgi-bin/user/info?access_token=T , statusCode=503"), 0, errs.Unavailable},
		{"status text 404", errors.New("http post error : uri=x , statusCode=404"), 0, errs.Invalid},
		// transport
		{"deadline", context.DeadlineExceeded, 0, errs.Unavailable},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), 0, errs.Unavailable},
		{"url timeout", &url.Error{Op: "Post", URL: "https://api.weixin.qq.com/x", Err: timeoutErr{}}, 0, errs.Unavailable},
		{"refused", &url.Error{Op: "Get", URL: "https://api.weixin.qq.com/x", Err: refused}, 0, errs.Unavailable},
		{"not configured", fmt.Errorf("wechat code2session: %w", ErrNotConfigured), 0, errs.Invalid},
		{"invalid", fmt.Errorf("%w: scene too long", ErrInvalid), 0, errs.Invalid},
		{"plain", errors.New("boom"), 0, errs.Other},
	}
	if Code(nil) != 0 || kindOf(nil) != errs.Other || fail("op", nil) != nil {
		t.Errorf("Code(nil) = %d, kindOf(nil) = %v, fail(nil) = %v; want 0, other, nil", Code(nil), kindOf(nil), fail("op", nil))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.code {
				t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.code)
			}
			if got := kindOf(tt.err); got != tt.kind {
				t.Errorf("kindOf(%v) = %v, want %v", tt.err, got, tt.kind)
			}
			// fail() gives the kind the caller acts on, keeps the code and
			// hands back an *APIError for codes
			want := tt.kind
			if want == refresh {
				want = errs.Unavailable
			}
			f := fail("op", tt.err)
			var ke *errs.Error
			if !errors.As(f, &ke) || errs.KindOf(f) != want {
				t.Errorf("fail(%v) = %#v (kind %v), want an *errs.Error of kind %v", tt.err, f, errs.KindOf(f), want)
			}
			if got := Code(f); got != tt.code {
				t.Errorf("Code(fail(%v)) = %d, want %d", tt.err, got, tt.code)
			}
			var ae *APIError
			if tt.code != 0 && (!errors.As(f, &ae) || ae.Code != tt.code || ae.Errcode() != tt.code) {
				t.Errorf("fail(%v) = %#v, want an *APIError with code %d", tt.err, f, tt.code)
			}
			if f.Error() != fail("op", f).Error() || !errors.Is(fail("op", f), f) {
				t.Errorf("fail(fail(%v)) changed it", tt.err)
			}
		})
	}
}

func TestFailKeepsMessage(t *testing.T) {
	err := fail("template_send", errors.New("template msg send error : errcode=43004 , errmsg=require subscribe rid: 1"))
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("fail = %T, want *APIError", err)
	}
	if want := (APIError{Code: 43004, Msg: "require subscribe rid: 1", Op: "template_send"}); *ae != want {
		t.Errorf("got %+v, want %+v", *ae, want)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind errs.Kind
	}{
		{"url error", &url.Error{Op: "Get", URL: "https://api.weixin.qq.com/cgi-bin/user/info?access_token=SECRET1&openid=o1", Err: timeoutErr{}}, errs.Unavailable},
		{"wrapped url error", fmt.Errorf("get qr ticket failed, %w", &url.Error{Op: "Get", URL: "https://h/sns/jscode2session?appid=a&secret=SECRET1&js_code=SECRET2", Err: context.DeadlineExceeded}), errs.Unavailable},
		{"silenceper text", errors.New("http get error : uri=https://api.weixin.qq.com/cgi-bin/user/info?access_token=SECRET1&openid=o , statusCode=502"), errs.Unavailable},
		{"text around a chain", fmt.Errorf("get qr ticket failed, %s: %w", "access_token=SECRET1", context.DeadlineExceeded), errs.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fail("op", tt.err)
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error text leaks a credential: %s", err)
			}
			if got := errs.KindOf(err); got != tt.kind {
				t.Errorf("kind = %v, want %v", got, tt.kind)
			}
		})
	}
}
