package campaigns

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/omohq/omo/coupons"
)

// Data is what a campaign's texts are rendered with.
type Data struct {
	Follower FollowerData
	Campaign CampaignData
	Coupon   *CouponData   // set once an issue_coupon ran before the action
	Store    *StoreData    // set for location campaigns
	Referral *ReferralData // set for referral programs
}

// FollowerData is the follower a text is about.
type FollowerData struct {
	OpenID     string
	UnionID    string
	FirstScene string
	Store      string // home store id ("" if none)
}

// CampaignData names the campaign.
type CampaignData struct {
	ID    string
	Title string
}

// CouponData is an issued coupon. Texts name the discount's fields
// directly: {{.Coupon.AmountFen}}, {{.Coupon.MinSpendFen}},
// {{.Coupon.Percent}}.
type CouponData struct {
	Code  string
	Title string
	Pool  string
	coupons.Discount
	ExpiresAt time.Time // in the campaign's time zone
}

// StoreData is a store near the follower.
type StoreData struct {
	ID, Name, Address, City, Page string
	DistanceKM                    float64
}

// ReferralData is a referrer's progress.
type ReferralData struct {
	Code  string
	Count int
}

// MaxTemplateField is how many characters WeChat keeps of a template
// message field since May 2023; the rest is cut silently.
const MaxTemplateField = 20

func newText(src string) (*Text, error) {
	t, err := template.New("").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	return &Text{Source: src, tmpl: t}, nil
}

// Static reports whether the text has no template actions.
func (t *Text) Static() bool {
	if t == nil || t.tmpl == nil || t.tmpl.Tree == nil {
		return true
	}
	for _, n := range t.tmpl.Tree.Root.Nodes {
		if n.Type() != parse.NodeText {
			return false
		}
	}
	return true
}

// Render executes the text with data. A failure (a field that is not there,
// a nil coupon) is an error: the caller records it and sends nothing.
func (t *Text) Render(data *Data) (string, error) {
	if t == nil {
		return "", nil
	}
	var b strings.Builder
	if err := t.tmpl.Execute(&b, data); err != nil {
		return "", errors.New(cleanTemplateErr(err))
	}
	return b.String(), nil
}

var (
	templateErrPrefix = regexp.MustCompile(`^template: :\d+:\d+: `)
	templateNoField   = regexp.MustCompile(`executing "" at <([^>]*)>: can't evaluate field (\w+) in type \*?campaigns\.(\w*?)(Data)?$`)
)

// cleanTemplateErr drops text/template's position prefix, which points into
// the one-line text and would confuse next to the file's line number, and
// says plainly which field does not exist.
func cleanTemplateErr(err error) string {
	msg := templateErrPrefix.ReplaceAllString(strings.TrimPrefix(err.Error(), "template: :1: "), "")
	if m := templateNoField.FindStringSubmatch(msg); m != nil {
		if m[3] == "" { // the top level, Data
			return fmt.Sprintf("%s: there is no field %s (the fields are .Follower, .Campaign, .Coupon, .Store and .Referral)", m[1], m[2])
		}
		return fmt.Sprintf("%s: there is no field %s in .%s", m[1], m[2], m[3])
	}
	return msg
}

// Truncate cuts s to max characters, reporting whether it did.
func Truncate(s string, max int) (string, bool) {
	if utf8.RuneCountInString(s) <= max {
		return s, false
	}
	r := []rune(s)
	return string(r[:max]), true
}

// sampleData is what validation renders texts with: every field set, so
// that only real mistakes (a misspelt field, a coupon used before one is
// issued) fail.
func sampleData(withCoupon, withStore, withReferral bool) *Data {
	d := &Data{
		Follower: FollowerData{OpenID: "oSAMPLE", UnionID: "uSAMPLE", FirstScene: "store:sample", Store: "sample"},
		Campaign: CampaignData{ID: "sample", Title: "Sample"},
	}
	if withCoupon {
		d.Coupon = &CouponData{Code: "SAMPLECODE", Title: "Sample", Pool: "sample", Discount: coupons.Discount{AmountFen: 1000}, ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	if withStore {
		d.Store = &StoreData{ID: "sample", Name: "Sample", DistanceKM: 1.2}
	}
	if withReferral {
		d.Referral = &ReferralData{Code: "SAMPLE", Count: 3}
	}
	return d
}
