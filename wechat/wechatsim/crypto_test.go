package wechatsim

import (
	"bytes"
	"strings"
	"testing"
)

// WeChat's official WXBizMsgCrypt sample values.
const (
	vecToken = "pamtest"
	vecKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	vecAppID = "wxb11529c136998cb6"
)

func TestEncryptOfficialVector(t *testing.T) {
	got, err := Encrypt(vecKey, vecAppID, []byte("aaaabbbbccccdddd"), []byte("我是中文abcd123"))
	if err != nil {
		t.Fatal(err)
	}
	want := "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
	if got != want {
		t.Errorf("Encrypt = %q, want %q", got, want)
	}
	plain, appID, err := Decrypt(vecKey, want)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != "我是中文abcd123" || appID != vecAppID {
		t.Errorf("Decrypt = %q, %q", plain, appID)
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	random := []byte("0123456789abcdef")
	for _, n := range []int{0, 1, 11, 12, 13, 31, 32, 33, 64, 1000} {
		plain := bytes.Repeat([]byte("x"), n)
		enc, err := Encrypt(vecKey, vecAppID, random, plain)
		if err != nil {
			t.Fatalf("len %d: %v", n, err)
		}
		got, appID, err := Decrypt(vecKey, enc)
		if err != nil {
			t.Fatalf("len %d: %v", n, err)
		}
		if !bytes.Equal(got, plain) || appID != vecAppID {
			t.Errorf("len %d: got %q/%q", n, got, appID)
		}
	}
}

func TestCryptoErrors(t *testing.T) {
	good, _ := Encrypt(vecKey, vecAppID, []byte("aaaabbbbccccdddd"), []byte("<xml/>"))
	otherKey := strings.Repeat("A", 43)
	tests := []struct {
		name, key, enc string
	}{
		{"short key", "abc", good},
		{"not base64", vecKey, "!!!"},
		{"not a block multiple", vecKey, "AAAA"},
		{"wrong key", otherKey, good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Decrypt(tt.key, tt.enc); err == nil {
				t.Error("Decrypt succeeded, want error")
			}
		})
	}
	if _, err := Encrypt(vecKey, vecAppID, []byte("short"), nil); err == nil {
		t.Error("Encrypt with 5 random bytes succeeded")
	}
}

func TestSignatures(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		// sha1("123abcxyz") - sorted, not in argument order.
		{"signature", Signature("abc", "123", "xyz"), "94ffbd20c84766e871799062cb1bc3e3f40c5e13"},
		{"order does not matter", Signature("xyz", "abc", "123"), "94ffbd20c84766e871799062cb1bc3e3f40c5e13"},
		// sha1("1409304348" + "pamtest" + "xxxxxx"), the sample's token/timestamp/nonce.
		{"sample", Signature(vecToken, "1409304348", "xxxxxx"), "76480565cbe296026c53aaacd1ad523a1ddba24f"},
		{"msg_signature is four-way", MsgSignature("c", "a", "d", "b"), Signature("ab", "c", "d")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}
