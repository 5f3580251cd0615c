package wechat

// How requests reach WeChat (or the simulator).
//
// silenceper sends every request through one package-global *http.Client,
// util.DefaultHTTPClient, and builds URLs from hard-coded constants. A process
// may hold several Clients with different APIBase (tests make many), so the
// global client cannot carry one Client's base or timeout. Instead it gets a
// router, installed once, that hands each request to the rewriter of the
// Client that owns it:
//
//   - requests whose context carries a rewriter (silenceper's *Context
//     functions, given the ctx of the Client method) go there;
//   - otherwise the access_token in the query names the Client: every token
//     a Client's token handle gives out is registered to that Client's
//     rewriter (tokenRoutes). Tokens are unique per app; two Clients sharing
//     an app and a Redis but not an APIBase would share a route, which omo
//     never does;
//   - anything else fails without leaving the process: nothing outside a
//     Client may talk to WeChat through silenceper.
//
// Calls made here (the token fetch, QR codes and their images, the
// mini-program code) use the Client's own *http.Client over the same rewriter
// and never touch the global one.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/silenceper/wechat/v2/util"
)

// maxBody bounds what is read from one WeChat answer (images included).
const maxBody = 8 << 20

// rewriter sends api.weixin.qq.com and mp.weixin.qq.com requests to base
// (nil: leave them alone) and bounds each exchange, body included, by timeout.
type rewriter struct {
	base    *url.URL
	timeout time.Duration
	next    http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (r *rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), r.timeout)
	req = req.Clone(ctx)
	if r.base != nil && (req.URL.Host == "api.weixin.qq.com" || req.URL.Host == "mp.weixin.qq.com") {
		req.URL.Scheme = r.base.Scheme
		req.URL.Host = r.base.Host
		req.URL.Path = strings.TrimRight(r.base.Path, "/") + req.URL.Path
		req.URL.RawPath = ""
		req.Host = ""
	}
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody releases the exchange's timeout when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// routeKey is the context key under which a Client passes its rewriter to
// silenceper's *Context functions.
type routeKey struct{}

func withRoute(ctx context.Context, r *rewriter) context.Context {
	return context.WithValue(ctx, routeKey{}, r)
}

var (
	routerOnce  sync.Once
	tokenRoutes sync.Map // access token (string) → *rewriter
)

// installRouter points silenceper's global HTTP client at router, once per
// process. It replaces the variable rather than mutating it: it starts out as
// http.DefaultClient, which the rest of the process shares.
func installRouter() {
	routerOnce.Do(func() { util.DefaultHTTPClient = &http.Client{Transport: router{}} })
}

// router is the global transport described at the top of this file.
type router struct{}

// RoundTrip implements http.RoundTripper.
func (router) RoundTrip(req *http.Request) (*http.Response, error) {
	if r, ok := req.Context().Value(routeKey{}).(*rewriter); ok {
		return r.RoundTrip(req)
	}
	if tok := req.URL.Query().Get("access_token"); tok != "" {
		if r, ok := tokenRoutes.Load(tok); ok {
			return r.(*rewriter).RoundTrip(req)
		}
	}
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, fmt.Errorf("wechat: %s %s%s: no omo Client owns this request", req.Method, req.URL.Host, req.URL.Path)
}

// fetch sends one request over the Client's own HTTP client and returns the
// body and its Content-Type. body nil means GET, anything else is POSTed as
// JSON. A non-200 status is an *HTTPError.
func (c *Client) fetch(ctx context.Context, op, rawURL string, body any) ([]byte, string, error) {
	method, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // WeChat shows "&" in pages and data as is
		if err := enc.Encode(body); err != nil {
			return nil, "", err
		}
		method, rd = http.MethodPost, &buf
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return nil, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return nil, "", &HTTPError{Status: resp.StatusCode, Op: op}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return data, resp.Header.Get("Content-Type"), err
}

// callJSON fetches and decodes a JSON answer into out (may be nil); an answer
// with a non-zero errcode is an *APIError for op.
func (c *Client) callJSON(ctx context.Context, op, rawURL string, body, out any) error {
	data, _, err := c.fetch(ctx, op, rawURL, body)
	if err != nil {
		return err
	}
	return decodeJSON(op, data, out)
}

// decodeJSON checks errcode first, then decodes data into out (may be nil).
func decodeJSON(op string, data []byte, out any) error {
	var e struct {
		Code int    `json:"errcode"`
		Msg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	if e.Code != 0 {
		return &APIError{Code: e.Code, Msg: e.Msg, Op: op}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// fetchImage fetches an image answer; WeChat answers errors on image
// endpoints as JSON, whatever Content-Type it claims, so the body is sniffed.
func (c *Client) fetchImage(ctx context.Context, op, rawURL string, body any) ([]byte, error) {
	data, ctype, err := c.fetch(ctx, op, rawURL, body)
	if err != nil {
		return nil, err
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		if err := decodeJSON(op, data, nil); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("expected an image, got JSON (%s)", ctype)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("empty image (%s)", ctype)
	}
	return data, nil
}
