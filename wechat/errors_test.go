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
)

// timeoutErr is what net/http reports when a deadline hits mid-exchange.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestCodeAndClassify(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name  string
		err   error
		code  int
		class Class
	}{
		{"nil", nil, 0, ClassNone},
		// the shapes silenceper v2.1.10 returns
		{"CommonError", util.NewCommonError("BatchTag", 40001, "invalid credential"), 40001, ClassRefresh},
		{"CommonError wrapped", fmt.Errorf("tag: %w", util.NewCommonError("SendSubscribeMessage", 43101, "user refuse to accept the msg")), 43101, ClassStop},
		{"user info text", fmt.Errorf("GetUserInfo Error , errcode=%d , errmsg=%s", 40003, "invalid openid"), 40003, ClassStop},
		{"template text", fmt.Errorf("template msg send error : errcode=%v , errmsg=%v", 45009, "reach max api daily quota limit"), 45009, ClassQuota},
		{"custom text", fmt.Errorf("customer msg send error : errcode=%v , errmsg=%v", 45015, "response out of time limit"), 45015, ClassFallback},
		{"customer quota", errors.New("customer msg send error : errcode=45047 , errmsg=out of response count limit"), 45047, ClassFallback},
		{"not following", errors.New("template msg send error : errcode=43004 , errmsg=require subscribe"), 43004, ClassStop},
		{"stable token text", errors.New("get stable access_token error : errcode=-1 , errormsg=system error"), -1, ClassRetry},
		{"colon style", errors.New("something failed, errcode: 42001, errmsg: access_token expired"), 42001, ClassRefresh},
		{"40014", errors.New("errcode=40014 , errmsg=invalid access_token"), 40014, ClassRefresh},
		{"fetchCode text", fmt.Errorf("fetchCode error : errcode=%v , errmsg=%v", 41030, "invalid page"), 41030, ClassConfig},
		{"frequency", errors.New("errcode=45011 , errmsg=api minute-quota reach limit"), 45011, ClassBackoff},
		{"43117", errors.New("errcode=43117"), 43117, ClassBackoff},
		{"template id", errors.New("errcode=40037 , errmsg=invalid template_id"), 40037, ClassConfig},
		{"argument", errors.New("errcode=47003 , errmsg=argument invalid! data.thing1.value invalid"), 47003, ClassConfig},
		{"unauthorised", errors.New("errcode=48001 , errmsg=api unauthorized"), 48001, ClassConfig},
		{"unknown code", errors.New("errcode=99999 , errmsg=new in 2027"), 99999, ClassUnknown},
		// built here
		{"APIError", &APIError{Code: 40001, Msg: "invalid credential", Op: "user_info"}, 40001, ClassRefresh},
		{"APIError wrapped", fmt.Errorf("send: %w", &APIError{Code: 45011, Op: "template_send"}), 45011, ClassBackoff},
		{"HTTPError 502", &HTTPError{Status: 502, Op: "showqrcode"}, 0, ClassRetry},
		{"HTTPError 429", &HTTPError{Status: 429}, 0, ClassBackoff},
		{"HTTPError 404", &HTTPError{Status: 404}, 0, ClassConfig},
		// silenceper's status errors are text
		{"status text 503", errors.New("http get error : uri=https://api.weixin.qq.com/cgi-bin/user/info?access_token=T , statusCode=503"), 0, ClassRetry},
		{"status text 404", errors.New("http post error : uri=x , statusCode=404"), 0, ClassConfig},
		// transport
		{"deadline", context.DeadlineExceeded, 0, ClassRetry},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), 0, ClassRetry},
		{"url timeout", &url.Error{Op: "Post", URL: "https://api.weixin.qq.com/x", Err: timeoutErr{}}, 0, ClassRetry},
		{"refused", &url.Error{Op: "Get", URL: "https://api.weixin.qq.com/x", Err: refused}, 0, ClassRetry},
		{"not configured", fmt.Errorf("wechat code2session: %w", ErrNotConfigured), 0, ClassConfig},
		{"invalid", fmt.Errorf("%w: scene too long", ErrInvalid), 0, ClassConfig},
		{"plain", errors.New("boom"), 0, ClassUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.code {
				t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.code)
			}
			if got := Classify(tt.err); got != tt.class {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.class)
			}
			// fail() keeps code and class, and hands back an *APIError for codes
			f := fail("op", tt.err)
			if got := Classify(f); got != tt.class {
				t.Errorf("Classify(fail(%v)) = %v, want %v", tt.err, got, tt.class)
			}
			var ae *APIError
			if tt.code != 0 && (!errors.As(f, &ae) || ae.Code != tt.code) {
				t.Errorf("fail(%v) = %#v, want an *APIError with code %d", tt.err, f, tt.code)
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
		name  string
		err   error
		class Class
	}{
		{"url error", &url.Error{Op: "Get", URL: "https://api.weixin.qq.com/cgi-bin/user/info?access_token=SECRET1&openid=o1", Err: timeoutErr{}}, ClassRetry},
		{"wrapped url error", fmt.Errorf("get qr ticket failed, %w", &url.Error{Op: "Get", URL: "https://h/sns/jscode2session?appid=a&secret=SECRET1&js_code=SECRET2", Err: context.DeadlineExceeded}), ClassRetry},
		{"silenceper text", errors.New("http get error : uri=https://api.weixin.qq.com/cgi-bin/user/info?access_token=SECRET1&openid=o , statusCode=502"), ClassRetry},
		{"text around a chain", fmt.Errorf("get qr ticket failed, %s: %w", "access_token=SECRET1", context.DeadlineExceeded), ClassRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fail("op", tt.err)
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error text leaks a credential: %s", err)
			}
			if got := Classify(err); got != tt.class {
				t.Errorf("Classify = %v, want %v", got, tt.class)
			}
		})
	}
}
