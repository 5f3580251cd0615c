package bench

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/omohq/omo/wechat/wechatsim"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	var all []time.Duration
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		d := time.Duration(r.ExpFloat64() * float64(3*time.Millisecond))
		h.Record(d)
		all = append(all, d)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := all[int(q*float64(len(all)))-1]
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff < -0.01 || diff > 0.01 {
			t.Errorf("Quantile(%v) = %v, exact %v (%.2f%% off)", q, got, want, 100*diff)
		}
	}
	if h.Max() != all[len(all)-1] || h.Count() != uint64(len(all)) {
		t.Errorf("Max %v Count %d, want %v %d", h.Max(), h.Count(), all[len(all)-1], len(all))
	}
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 127, 128, 255, 256, 257, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1} {
		i := bucket(v)
		if i < prev {
			t.Errorf("bucket(%d) = %d, below the previous %d", v, i, prev)
		}
		if i >= histSize {
			t.Fatalf("bucket(%d) = %d, outside %d", v, i, histSize)
		}
		if u := upper(i); u < v || float64(u-v) > float64(v)/128+1 {
			t.Errorf("upper(bucket(%d)) = %d: not within 1/128 above", v, u)
		}
		prev = i
	}
}

// TestPushIsWhatWeChatSends checks a built request against WeChat's rules,
// computed by the simulator: the signature, the message, and in safe mode
// the msg_signature and the ciphertext.
func TestPushIsWhatWeChatSends(t *testing.T) {
	const token, appID, key = "tok", "wxapp", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	for _, aes := range []string{"", key} {
		o := &Options{URL: "http://omo.test:8080/wechat/oa?x=1", Token: token, AESKey: aes, AppID: appID}
		if err := o.defaults(); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(o.URL)
		p := newPusher(o, u, "run1", 3)
		now := time.Unix(1767225600, 0)
		seen := map[string]bool{}
		for range 3 {
			raw, err := p.next(now)
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatalf("not an HTTP request: %v\n%s", err, raw)
			}
			body, _ := io.ReadAll(req.Body)
			q := req.URL.Query()
			if req.Method != "POST" || req.URL.Path != "/wechat/oa" || q.Get("x") != "1" || req.Host != "omo.test:8080" {
				t.Errorf("request line/host: %s %s host %s", req.Method, req.URL, req.Host)
			}
			if q.Get("signature") != wechatsim.Signature(token, q.Get("timestamp"), q.Get("nonce")) || q.Get("timestamp") != "1767225600" {
				t.Errorf("bad signature in %s", req.URL.RawQuery)
			}
			openid := q.Get("openid")
			if seen[openid] {
				t.Errorf("openid %s repeated", openid)
			}
			seen[openid] = true
			msg := body
			if aes != "" {
				if q.Get("encrypt_type") != "aes" {
					t.Errorf("safe mode without encrypt_type=aes: %s", req.URL.RawQuery)
				}
				enc := string(between(body, "<Encrypt><![CDATA[", "]]></Encrypt>"))
				if q.Get("msg_signature") != wechatsim.MsgSignature(token, q.Get("timestamp"), q.Get("nonce"), enc) {
					t.Errorf("bad msg_signature")
				}
				var gotApp string
				msg, gotApp, err = wechatsim.Decrypt(aes, enc)
				if err != nil || gotApp != appID {
					t.Fatalf("Decrypt: %v, appid %q", err, gotApp)
				}
			}
			want := wechatsim.Subscribe(o.ToUser, openid, now, "").XML()
			if !bytes.Equal(msg, want) {
				t.Errorf("message\n%s\nwant\n%s", msg, want)
			}
		}
	}
}

func between(b []byte, from, to string) []byte {
	_, rest, _ := bytes.Cut(b, []byte(from))
	v, _, _ := bytes.Cut(rest, []byte(to))
	return v
}

// BenchmarkBuildPush is the client's cost of one request.
func BenchmarkBuildPush(b *testing.B) {
	for _, aes := range []string{"", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"} {
		name := map[bool]string{true: "plaintext", false: "safe"}[aes == ""]
		b.Run(name, func(b *testing.B) {
			o := &Options{URL: "http://127.0.0.1:8080/wechat/oa", Token: "tok", AESKey: aes, AppID: "wxapp"}
			o.defaults()
			u, _ := url.Parse(o.URL)
			p := newPusher(o, u, "run1", 0)
			b.ReportAllocs()
			now := time.Now()
			for b.Loop() {
				p.next(now)
			}
		})
	}
}
