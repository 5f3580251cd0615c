package worker

import (
	"errors"
	"testing"

	"github.com/omohq/omo/errs"
)

func TestSendOutcome(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, "sent"},
		{errs.E(errs.Unavailable, "send", "errcode=-1"), "unavailable"},
		{errs.E(errs.Gone, "send", "errcode=43004"), "gone"},
		{errs.E(errs.QuotaSpent, "send", "errcode=45009"), "quota_spent"},
		{errs.E(errs.WindowClosed, "send", "errcode=45015"), "window_closed"},
		{errors.New("plain"), "other"},
	} {
		if got := SendOutcome(tt.err); got != tt.want {
			t.Errorf("SendOutcome(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
