package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/wechat/wechatsim"
)

// TestQRCodeCommand: `omo qrcode` makes a permanent QR_LIMIT_STR_SCENE code
// through the simulator and saves its image; asking again for the same
// scene reuses the code (WeChat caps permanent codes), a new scene makes
// another; a bad scene is a usage error.
func TestQRCodeCommand(t *testing.T) {
	sim := wechatsim.New(wechatsim.Options{})
	sim.AddApp(testAppID, testSecret)
	hs := httptest.NewServer(sim)
	defer hs.Close()
	environ := omoEnv(t, hs.URL, testenv.SQLiteURL(t), testenv.Redis(t).URL())
	dir := t.TempDir()

	out := filepath.Join(dir, "sh-001.png")
	for i, want := range []string{"made a permanent QR code for scene store:sh-001", "reused the permanent QR code made"} {
		stdout, stderr, err := runFor(t, 20*time.Second, []string{"qrcode", "--scene", "store:sh-001", "--out", out}, environ)
		if err != nil {
			t.Fatalf("run %d: omo qrcode: %v\n%s", i, err, stderr)
		}
		if !strings.Contains(stdout, want) {
			t.Errorf("run %d: output %q lacks %q", i, stdout, want)
		}
	}
	img, err := os.ReadFile(out)
	if err != nil || len(img) < 3 || !bytes.Equal(img[:3], []byte{0xFF, 0xD8, 0xFF}) {
		t.Fatalf("saved image: %d bytes, %v; want a JPEG", len(img), err)
	}
	if _, _, err := runFor(t, 20*time.Second, []string{"qrcode", "--scene", "store:bj-002", "--out", filepath.Join(dir, "bj.png")}, environ); err != nil {
		t.Fatal(err)
	}
	codes := sim.QRCodes(testAppID)
	if len(codes) != 2 {
		t.Fatalf("QR codes created = %d, want 2 (one per scene): %+v", len(codes), codes)
	}
	for _, c := range codes {
		if !c.Permanent || c.ActionName != "QR_LIMIT_STR_SCENE" || !strings.HasPrefix(c.Scene, "store:") {
			t.Errorf("QR code %+v, want a permanent QR_LIMIT_STR_SCENE store code", c)
		}
	}
	for _, args := range [][]string{
		{"qrcode", "--out", out},
		{"qrcode", "--scene", strings.Repeat("x", 65), "--out", out},
		{"qrcode", "--scene", "store:x"},
	} {
		if _, _, err := runFor(t, 5*time.Second, args, environ); err == nil || !strings.Contains(err.Error(), "usage: omo qrcode") {
			t.Errorf("omo %v = %v, want a usage error", args, err)
		}
	}
}
