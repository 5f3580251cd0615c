package wechat_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

// The seed corpus in testdata/fuzz is every builder's XML (see parseCases),
// plain for FuzzParseEvent and both plain and sealed for FuzzOpen.
// TestFuzzSeedCorpus keeps the files in step with the builders; rewrite them
// with go test ./wechat -run TestFuzzSeedCorpus -update-fuzz-seeds.
var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/{FuzzParseEvent,FuzzOpen} from the simulator's builders")

// fuzzTS and fuzzNonce sign every FuzzOpen input.
const fuzzTS, fuzzNonce = "1700000000", "1234567890"

// FuzzParseEvent checks that no input panics ParseEvent, that whatever it
// accepts has an OpenID and a Type (so its dedupe key names someone), and
// that it fails only with Invalid.
func FuzzParseEvent(f *testing.F) {
	f.Fuzz(func(t *testing.T, plain []byte) {
		ev, err := wechat.ParseEvent(plain)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("ParseEvent(%q) = %v, want an Invalid error", plain, err)
			}
			if ev != nil {
				t.Fatalf("ParseEvent(%q) returned %+v with error %v", plain, ev, err)
			}
			return
		}
		if ev.OpenID == "" || ev.Type == "" {
			t.Fatalf("ParseEvent(%q) accepted %+v without OpenID or Type", plain, ev)
		}
		if ev.DedupeKey() == "" {
			t.Fatalf("ParseEvent(%q): empty dedupe key", plain)
		}
	})
}

// FuzzOpen feeds Codec.Open bodies signed the way WeChat signs them, so the
// fuzzer gets past the signature check to the envelope and the AES layer.
// Nothing may panic; a plaintext push comes back unchanged from a
// plaintext-mode codec and is refused as Unauthorized by a safe-mode one; a
// safe-mode push fails only as Invalid, and one that opens agrees with the
// simulator's independent decryption and carries the OA's appid.
func FuzzOpen(f *testing.F) {
	c, err := wechat.NewCodec(wechat.WebhookConfig{AppID: hookAppID, Token: hookToken, EncodingAESKey: hookKey})
	if err != nil {
		f.Fatal(err)
	}
	plainCodec, err := wechat.NewCodec(wechat.WebhookConfig{AppID: hookAppID, Token: hookToken})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, aes bool) {
		q := signed(hookToken, fuzzTS, fuzzNonce)
		if aes {
			var env struct{ ToUserName, Encrypt string }
			_ = xml.Unmarshal(body, &env) // Open rejects what this cannot read
			q.Set("encrypt_type", "aes")
			q.Set("msg_signature", wechatsim.MsgSignature(hookToken, fuzzTS, fuzzNonce, env.Encrypt))
			plain, err := c.Open(q, body)
			if err != nil {
				if !errs.Is(err, errs.Invalid) {
					t.Fatalf("Open(%q) = %v, want an Invalid error", body, err)
				}
				return
			}
			// The simulator is stricter about padding; where it opens the
			// text too, both must read the same message for the same OA.
			if simPlain, appID, err := wechatsim.Decrypt(hookKey, env.Encrypt); err == nil {
				if appID != hookAppID || !bytes.Equal(simPlain, plain) {
					t.Fatalf("Open(%q) = %q, but wechatsim.Decrypt = %q for appid %q", body, plain, simPlain, appID)
				}
			}
			if ev, err := wechat.ParseEvent(plain); err == nil && (ev.OpenID == "" || ev.Type == "") {
				t.Fatalf("ParseEvent(Open(%q)) accepted %+v without OpenID or Type", body, ev)
			}
			return
		}
		plain, err := plainCodec.Open(q, body)
		if err != nil || !bytes.Equal(plain, body) {
			t.Fatalf("Open(plaintext %q) = %q, %v; want the body unchanged", body, plain, err)
		}
		if _, err := c.Open(q, body); !errs.Is(err, errs.Unauthorized) {
			t.Fatalf("safe-mode Open(plaintext %q) = %v, want Unauthorized", body, err)
		}
	})
}

// seedFiles returns the seed corpus files the builders give, by path
// relative to testdata/fuzz.
func seedFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	for i, tt := range parseCases() {
		plain := tt.msg.XML()
		name := fmt.Sprintf("%02d_%s", i, slug(tt.name))
		files[filepath.Join("FuzzParseEvent", name)] = corpusFile(plain)
		files[filepath.Join("FuzzOpen", name+"_plain")] = corpusFile(plain, false)
		// A fixed random16 keeps the sealed seeds stable from run to run.
		enc, err := wechatsim.Encrypt(hookKey, hookAppID, []byte(fmt.Sprintf("seed-random-%04d", i)), plain)
		if err != nil {
			t.Fatal(err)
		}
		_, body := sealed(hookToken, fuzzTS, fuzzNonce, enc)
		files[filepath.Join("FuzzOpen", name+"_aes")] = corpusFile(body, true)
	}
	return files
}

// corpusFile renders values in the "go test fuzz v1" format.
func corpusFile(vals ...any) string {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			if utf8.Valid(v) {
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
			} else {
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			}
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", v)
		}
	}
	return b.String()
}

func slug(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			out = append(out, r)
		default:
			out = append(out, '_')
		}
	}
	return string(out)
}

func TestFuzzSeedCorpus(t *testing.T) {
	for rel, want := range seedFiles(t) {
		path := filepath.Join("testdata", "fuzz", rel)
		if *updateFuzzSeeds {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("seed %s: %v (run with -update-fuzz-seeds)", path, err)
			continue
		}
		if string(got) != want {
			t.Errorf("seed %s is stale:\ngot  %q\nwant %q\n(run with -update-fuzz-seeds)", path, got, want)
		}
	}
}
