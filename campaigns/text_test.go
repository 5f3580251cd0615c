package campaigns

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func mustText(t *testing.T, src string) *Text {
	t.Helper()
	tx, err := newText(src)
	if err != nil {
		t.Fatalf("newText(%q): %v", src, err)
	}
	return tx
}

func TestRender(t *testing.T) {
	sh := time.FixedZone("CST", 8*3600)
	full := &Data{
		Follower: FollowerData{OpenID: "o1", FirstScene: "store:sh-001", Store: "sh-001"},
		Campaign: CampaignData{ID: "welcome", Title: "Welcome"},
		Coupon:   &CouponData{Code: "ABC123", Title: "¥10 off", ExpiresAt: time.Date(2027, 1, 31, 23, 59, 59, 0, sh)},
		Store:    &StoreData{Name: "静安店", DistanceKM: 1.234},
		Referral: &ReferralData{Count: 3},
	}
	tests := []struct {
		name, src string
		data      *Data
		want      string
		err       string // part of the error; "" = no error
	}{
		{"plain", "hello", &Data{}, "hello", ""},
		{"follower", "hi {{.Follower.OpenID}} from {{.Follower.Store}}", full, "hi o1 from sh-001", ""},
		{"coupon", `{{.Coupon.Code}} until {{.Coupon.ExpiresAt.Format "2006-01-02 15:04"}}`, full, "ABC123 until 2027-01-31 23:59", ""},
		{"store", `{{.Store.Name}} {{printf "%.1f" .Store.DistanceKM}} km`, full, "静安店 1.2 km", ""},
		{"referral", "{{.Referral.Count}} friends joined", full, "3 friends joined", ""},
		{"no coupon", "{{.Coupon.Code}}", &Data{}, "", "nil pointer"},
		{"no store", "{{.Store.Name}}", &Data{}, "", "nil pointer"},
		{"misspelt field", "{{.Follower.OpenId}}", full, "", ".Follower.OpenId: there is no field OpenId in .Follower"},
		{"misspelt top field", "{{.Coupons.Code}}", full, "", "there is no field Coupons"},
		{"misspelt coupon field", "{{.Coupon.code}}", full, "", "there is no field code in .Coupon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustText(t, tt.src).Render(tt.data)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Render(%q): %v", tt.src, err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("Render(%q) error = %v, want one with %q", tt.src, err, tt.err)
			case tt.err != "" && strings.Contains(err.Error(), "template: :1"):
				t.Errorf("Render(%q) error %q keeps text/template's position", tt.src, err)
			}
			if got != tt.want {
				t.Errorf("Render(%q) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
	var nilText *Text
	if got, err := nilText.Render(full); got != "" || err != nil {
		t.Errorf("nil Text renders %q, %v; want empty", got, err)
	}
}

func TestNewTextErrors(t *testing.T) {
	for _, src := range []string{"{{.Coupon.Code", "{{if}}", "{{end}}", "{{nofunc .X}}"} {
		if _, err := newText(src); err == nil {
			t.Errorf("newText(%q) = nil error", src)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
		cut  bool
	}{
		{"short", 20, "short", false},
		{"", 20, "", false},
		{"一二三四五六七八九十一二三四五六七八九十", 20, "一二三四五六七八九十一二三四五六七八九十", false},
		{"一二三四五六七八九十一二三四五六七八九十一", 20, "一二三四五六七八九十一二三四五六七八九十", true},
		{"满100减10元优惠券已发放到您的账户请及时使用", 20, "满100减10元优惠券已发放到您的账户请", true},
		{"abcdefghijklmnopqrstuvwxyz", 20, "abcdefghijklmnopqrst", true},
		{"🎉🎉🎉", 2, "🎉🎉", true},
	}
	for _, tt := range tests {
		got, cut := Truncate(tt.in, tt.max)
		if got != tt.want || cut != tt.cut {
			t.Errorf("Truncate(%q, %d) = %q, %v; want %q, %v", tt.in, tt.max, got, cut, tt.want, tt.cut)
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > tt.max {
			t.Errorf("Truncate(%q, %d) = %q: not %d whole characters", tt.in, tt.max, got, tt.max)
		}
	}
}

func TestStatic(t *testing.T) {
	tests := []struct {
		src  string
		want bool
	}{
		{"", true},
		{"plain text, 中文", true},
		{"{{.Coupon.Code}}", false},
		{"code: {{.Coupon.Code}}!", false},
		{`{{"literal"}}`, false},
		{"{{if .Coupon}}yes{{end}}", false},
	}
	for _, tt := range tests {
		if got := mustText(t, tt.src).Static(); got != tt.want {
			t.Errorf("Static(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
	var nilText *Text
	if !nilText.Static() {
		t.Error("nil Text is not static")
	}
}

// TestSampleData: validation renders with every field set, so a text that
// validates renders for a real follower too.
func TestSampleData(t *testing.T) {
	d := sampleData(true, true, true)
	if d.Coupon == nil || d.Store == nil || d.Referral == nil {
		t.Fatalf("sampleData(true, true, true) = %+v", d)
	}
	d = sampleData(false, false, false)
	if d.Coupon != nil || d.Store != nil || d.Referral != nil {
		t.Fatalf("sampleData(false, false, false) = %+v", d)
	}
}
