package wechat

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzScanPush holds the fast path to encoding/xml: whatever scanPush
// accepts, xml.Unmarshal accepts too and reads into the same fields. The
// seeds are the simulator's pushes (testdata/fuzz/FuzzParseEvent) and the
// cases below, which scanPush must leave to encoding/xml or read alike.
func FuzzScanPush(f *testing.F) {
	for _, s := range scanCases {
		f.Add([]byte(s.in))
	}
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzParseEvent/*")
	for _, path := range seeds {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		// The corpus files are "go test fuzz v1" with one []byte("...").
		lines := strings.SplitN(string(b), "\n", 2)
		if len(lines) == 2 {
			if v, ok := corpusBytes(lines[1]); ok {
				f.Add(v)
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var fastEnv, slowEnv envelope
		if scanEnvelope(in, &fastEnv) {
			if err := xml.Unmarshal(in, &slowEnv); err != nil {
				t.Fatalf("scanEnvelope accepted %q, which encoding/xml refuses: %v", in, err)
			}
			if fastEnv != slowEnv {
				t.Fatalf("scanEnvelope(%q) = %+v, encoding/xml %+v", in, fastEnv, slowEnv)
			}
		}
		var fast pushXML
		if !scanPush(in, &fast) {
			return
		}
		var slow pushXML
		if err := xml.Unmarshal(in, &slow); err != nil {
			t.Fatalf("scanPush accepted %q, which encoding/xml refuses: %v", in, err)
		}
		if d := cmp.Diff(slow, fast); d != "" {
			t.Fatalf("scanPush(%q) differs from encoding/xml (-xml +scan):\n%s", in, d)
		}
	})
}

// scanCases: what the fast path reads (ok) and what it leaves to
// encoding/xml.
var scanCases = []struct {
	in string
	ok bool
}{
	{`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_store:sh-001]]></EventKey></xml>`, true},
	{"<xml>\n <FromUserName><![CDATA[o1]]></FromUserName>\n <Content>a <![CDATA[<b>]]> c</Content>\n</xml>\n", true},
	{`<xml><Content>日本語 ☃</Content><Unknown>x</Unknown><Event></Event></xml>`, true},
	{`<xml><Content>a > b</Content></xml>`, true},
	{`<?xml version="1.0"?><xml><Content>x</Content></xml>`, false},
	{`<xml><Content>a &amp; b</Content></xml>`, false},
	{`<xml><Content a="1">x</Content></xml>`, false},
	{`<xml><Content>x</Content><!-- c --></xml>`, false},
	{"<xml><Content>a\r\nb</Content></xml>", false},
	{"<xml><Content>a\x01b</Content></xml>", false},
	{"<xml><Content>\xff</Content></xml>", false},
	{`<xml><SubscribeMsgPopupEvent><List><TemplateId>t</TemplateId></List></SubscribeMsgPopupEvent></xml>`, false},
	{`<xml><Content>x</Contents></xml>`, false},
	{`<xml><Content>x</Content></xml>trailing`, false},
	{`<xml><Content>x</Content>`, false},
	{`<root><Content>x</Content></root>`, false},
	{`<xml><a:Content>x</a:Content></xml>`, false},
	{`<xml><Content/></xml>`, false},
	{`<xml><Content><![CDATA[x]]</Content></xml>`, false},
}

func TestScanPushCases(t *testing.T) {
	for _, c := range scanCases {
		var fast pushXML
		if got := scanPush([]byte(c.in), &fast); got != c.ok {
			t.Errorf("scanPush(%q) = %v, want %v", c.in, got, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		var slow pushXML
		if err := xml.Unmarshal([]byte(c.in), &slow); err != nil {
			t.Fatalf("encoding/xml refuses %q: %v", c.in, err)
		}
		if d := cmp.Diff(slow, fast); d != "" {
			t.Errorf("scanPush(%q) differs from encoding/xml (-xml +scan):\n%s", c.in, d)
		}
	}
}

// corpusBytes decodes the []byte("...") line of a Go fuzz corpus file.
func corpusBytes(line string) ([]byte, bool) {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "[]byte(") || !strings.HasSuffix(line, ")") {
		return nil, false
	}
	s, err := strconv.Unquote(line[len("[]byte(") : len(line)-1])
	if err != nil {
		return nil, false
	}
	return []byte(s), true
}
