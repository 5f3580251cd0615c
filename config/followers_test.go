package config

import (
	"strings"
	"testing"
	"time"
)

func TestFollowersSyncEvery(t *testing.T) {
	if d := Default().Followers.SyncEvery; d != 0 {
		t.Errorf("default followers.sync_every = %s, want 0 (off)", d)
	}
	c, err := Load("", false, []string{"OMO_FOLLOWERS_SYNC_EVERY=24h"})
	if err != nil || c.Followers.SyncEvery != 24*time.Hour {
		t.Fatalf("OMO_FOLLOWERS_SYNC_EVERY=24h: %s, %v", c.Followers.SyncEvery, err)
	}
	for _, tt := range []struct {
		every time.Duration
		want  string
	}{
		{0, ""},
		{time.Hour, ""},
		{24 * time.Hour, ""},
		{59 * time.Minute, "followers.sync_every: must be 0 (off) or at least 1h0m0s"},
		{-time.Hour, "followers.sync_every"},
	} {
		c := valid()
		c.Followers.SyncEvery = tt.every
		err := c.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("sync_every %s: Validate() = %v, want %q", tt.every, err, tt.want)
		}
	}
}
