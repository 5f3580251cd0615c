package campaigns

import (
	"regexp"
	"text/template"
	"time"

	"github.com/omohq/omo/coupons"
)

// Kinds of document in a campaign file.
const (
	KindCouponPool      = "CouponPool"
	KindCampaign        = "Campaign"
	KindReferralProgram = "ReferralProgram"
)

// Trigger events (on.event).
const (
	OnSubscribe      = "subscribe"
	OnScan           = "scan"
	OnLocation       = "location"
	OnKeyword        = "keyword"
	OnMenuClick      = "menu_click"
	OnSchedule       = "schedule"
	OnCouponExpiring = "coupon_expiring"
)

// Pos is where a definition starts in its file.
type Pos struct {
	File string
	Line int
}

// CouponPool is a stock of coupons of one kind.
type CouponPool struct {
	Pos              Pos
	ID               string
	Title            string
	coupons.Discount // discount: what each coupon takes off

	Stock       int64 // never oversold
	PerFollower int   // coupons of this pool one follower may hold; 0 = no limit
	ValidFor    time.Duration
	ValidUntil  time.Time // zero when ValidFor is used
}

// ExpiresAt is when a coupon issued at now expires.
func (p *CouponPool) ExpiresAt(now time.Time) time.Time {
	if p.ValidFor > 0 {
		return now.Add(p.ValidFor)
	}
	return p.ValidUntil
}

// Campaign reacts to one kind of event with actions.
type Campaign struct {
	Pos      Pos
	ID       string
	Title    string
	Location *time.Location // timezone (default Asia/Shanghai): quiet hours and shown times
	Start    time.Time      // window.start; zero = always started
	End      time.Time      // window.end; zero = never ends
	On       Trigger
	When     Audience
	Limits   Limits
	Do       []Action // empty when Split is set
	Split    *Split   // split: an A/B test, each variant with its own do:; nil when Do is used
}

// Trigger is what makes a campaign fire (on:).
type Trigger struct {
	Event       string
	Scene       string // subscribe, scan: exact scene
	ScenePrefix string // subscribe, scan: scene prefix
	Text        string // keyword
	Match       string // keyword: exact | contains | regex (default exact)
	Key         string // menu_click
	WithinKM    float64
	Nearest     int
	Cron        string
	At          time.Time
	Within      time.Duration // coupon_expiring: how long before expiry the reminder fires
	Pool        string        // coupon_expiring: the pool whose coupons are watched
	poolLine    int           // where Pool is written
	atLine      int           // where At is written
	CatchUp     string        // schedule: CatchUpSkip (default) or CatchUpOnce
	MaxLateness time.Duration // schedule: a slot later than this is recorded missed, never sent (default 2h)
	re          *regexp.Regexp
	schedule    cronSchedule // schedule with cron: the parsed expression
}

// Missed-slot policies of a schedule trigger (on.catch_up).
const (
	CatchUpSkip = "skip" // slots missed while omo was down are recorded missed
	CatchUpOnce = "once" // the latest missed slot within max_lateness fires once; older ones are missed
)

// DefaultMaxLateness is how late a slot may still fire when on.max_lateness is not given.
const DefaultMaxLateness = 2 * time.Hour

// Audience filters followers (when:). The first group is matched against
// the follower of a push in memory; the second group (and, for schedule
// campaigns, all of it) is evaluated in SQL over the whole follower base, so
// it applies to schedule audiences only (see SQLOnly).
type Audience struct {
	TagsAny          []string
	TagsAll          []string
	TagsNone         []string
	NewFollower      *bool  // true: only a first-ever follow; false: only returning people (push triggers only)
	FirstScene       string // the follower's first QR scene is exactly this
	FirstScenePrefix string
	Stores           []string // store: the follower's home store (first store: scene) is one of these ids

	FollowedAfter   Moment        // followed_after: subscribed at or after
	FollowedBefore  Moment        // followed_before: subscribed before
	ActiveWithin    time.Duration // active_within: last event within this long before now
	InactiveFor     time.Duration // inactive_for: no event for at least this long
	Near            *Near         // near: last known location within_km of a store
	HasUnusedCoupon string        // has_unused_coupon: holds an issued, unexpired coupon of this pool
	NoUnusedCoupon  string        // no_unused_coupon: holds no issued, unexpired coupon of this pool
	NeverReceived   bool          // never_received: was never sent this campaign

	lines map[string]int // where each field is written, for set-wide checks
}

// Moment is a point in time written as a timestamp or as a duration before now.
type Moment struct {
	At  time.Time     // a fixed time; zero when Ago is used
	Ago time.Duration // that long before now
}

// IsZero reports whether no moment was given.
func (m Moment) IsZero() bool { return m.At.IsZero() && m.Ago == 0 }

// Time is the moment as seen at now.
func (m Moment) Time(now time.Time) time.Time {
	if m.Ago > 0 {
		return now.Add(-m.Ago)
	}
	return m.At
}

// Near is "within KM of a store", from the follower's last known location.
type Near struct {
	Store    string
	WithinKM float64
}

// SQLOnly reports whether the audience uses a filter that needs the whole
// follower base (only schedule audiences may).
func (a *Audience) SQLOnly() bool {
	return !a.FollowedAfter.IsZero() || !a.FollowedBefore.IsZero() || a.ActiveWithin > 0 || a.InactiveFor > 0 ||
		a.Near != nil || a.HasUnusedCoupon != "" || a.NoUnusedCoupon != "" || a.NeverReceived
}

// Limits bound how often a campaign acts.
type Limits struct {
	PerFollower int           // times one follower may trigger it; 0 = no limit
	Cooldown    time.Duration // minimum time between two firings for one follower
	Budget      int64         // total firings; 0 = no limit
	Rate        Rate          // sends per interval across all followers (zero = unlimited)
	Quiet       *QuietHours   // sends in these hours wait until they end
}

// Rate is N events per Per.
type Rate struct {
	N   int
	Per time.Duration
}

// QuietHours is a daily span in the campaign's time zone, e.g. 22:00-08:00.
type QuietHours struct {
	From, To time.Duration // since midnight
}

// Action kinds.
const (
	ActReply       = "reply"
	ActIssueCoupon = "issue_coupon"
	ActTemplate    = "send_template"
	ActSubscribe   = "send_subscribe"
	ActCustom      = "send_custom"
	ActTag         = "tag"
	ActUntag       = "untag"
	ActMass        = "send_mass"
)

// Action is one step of do:. Exactly one of its parts is set, per Kind.
type Action struct {
	Pos   Pos
	Kind  string
	Delay time.Duration

	Reply   *Text  // reply
	Pool    string // issue_coupon
	Send    *Send  // send_template, send_subscribe, send_custom
	TagName string // tag, untag
	Mass    *Mass  // send_mass

	poolLine int // where Pool is written
}

// Text is a templated text.
type Text struct {
	Source string
	Line   int // where it is written
	tmpl   *template.Template
}

// Send is a message to send: a template message, a subscribe notification
// or a customer-service message.
type Send struct {
	TemplateID string           // send_template, send_subscribe
	Page       string           // mini-program page the message opens
	Query      map[string]*Text // page query, rendered and URL-encoded
	Data       map[string]*Text // template fields
	Text       *Text            // send_custom: text message
	Card       *Card            // send_custom: mini-program card
	Fallback   *Send            // send_custom: template send used when WeChat answers 45015/45047
	queryKeys  []string         // Query's keys in file order
	dataKeys   []string         // Data's keys in file order
}

// Mass is a mass send (message/mass/send) to a schedule campaign's
// recipients: a text, or an article (mpnews) already uploaded to WeChat.
type Mass struct {
	Text          *Text  // text message; rendered once per firing, with .Campaign only
	MediaID       string // mpnews: the media_id of an uploaded article
	IgnoreReprint bool   // send_ignore_reprint: send even if WeChat judges the article a reprint
}

// Card is a mini-program card sent as a customer-service message.
type Card struct {
	Title        *Text
	ThumbMediaID string
}

// QueryKeys returns the query's keys in file order.
func (s *Send) QueryKeys() []string { return s.queryKeys }
