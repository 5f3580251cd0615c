package referral

import (
	"testing"
	"time"
)

func TestQualify(t *testing.T) {
	tests := []struct {
		name       string
		f          Facts
		wantState  State
		wantReason Reason
		wantWait   bool
	}{
		{"still follows, new, not the referrer", Facts{}, Qualified, "", false},
		{"unfollowed", Facts{Unfollowed: true}, Cancelled, ReasonUnfollowed, false},
		{"unfollowed wins over a pending lookup", Facts{Unfollowed: true, UnionIDPending: true}, Cancelled, ReasonUnfollowed, false},
		{"unfollowed wins over self", Facts{Unfollowed: true, SameAsReferrer: true, SeenBeforeArrival: true}, Cancelled, ReasonUnfollowed, false},
		{"unionid pending", Facts{UnionIDPending: true}, "", "", true},
		{"pending waits even if self by openid", Facts{UnionIDPending: true, SameAsReferrer: true}, "", "", true},
		{"the referrer, found by the unionid", Facts{SameAsReferrer: true}, Cancelled, ReasonSelf, false},
		{"self wins over seen before", Facts{SameAsReferrer: true, SeenBeforeArrival: true}, Cancelled, ReasonSelf, false},
		{"a mini-program user before arriving", Facts{SeenBeforeArrival: true}, Cancelled, ReasonNotNew, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, reason, wait := Qualify(tt.f)
			if s != tt.wantState || reason != tt.wantReason || wait != tt.wantWait {
				t.Errorf("Qualify(%+v) = %q, %q, %v; want %q, %q, %v", tt.f, s, reason, wait, tt.wantState, tt.wantReason, tt.wantWait)
			}
		})
	}
}

func TestUnfollowCancels(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	const hold = time.Hour
	tests := []struct {
		name        string
		after       time.Duration // since created
		untilRedeem bool
		want        bool
	}{
		{"at once", 0, false, true},
		{"within the hold", hold - time.Second, false, true},
		{"as the hold ends", hold, false, false},
		{"after the hold", 2 * hold, false, false},
		{"until redeem, within the hold", time.Minute, true, true},
		{"until redeem, long after", 30 * 24 * time.Hour, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UnfollowCancels(created, hold, tt.untilRedeem, created.Add(tt.after)); got != tt.want {
				t.Errorf("UnfollowCancels(%v after, untilRedeem %v) = %v, want %v", tt.after, tt.untilRedeem, got, tt.want)
			}
		})
	}
}
