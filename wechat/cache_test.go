package wechat_test

import (
	"context"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/cache"

	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/wechat"
)

func TestRedisCache(t *testing.T) {
	rdb := newRedis(t, testenv.Redis(t).URL())
	var c cache.ContextCache = wechat.NewRedisCache(rdb, "test:")
	if v := c.Get("missing"); v != nil {
		t.Errorf("Get(missing) = %#v, want nil", v)
	}
	if err := c.Set("ticket", "T1", time.Minute); err != nil {
		t.Fatal(err)
	}
	// silenceper does val.(string): anything else panics there
	if v, ok := c.Get("ticket").(string); !ok || v != "T1" {
		t.Errorf("Get(ticket) = %#v, want the string T1", c.Get("ticket"))
	}
	if got := rdb.Get(context.Background(), "test:ticket").Val(); got != "T1" {
		t.Errorf("stored under test:ticket = %q", got)
	}
	if err := c.Set("n", 42, 0); err != nil {
		t.Fatal(err)
	}
	if v := c.Get("n"); v != "42" {
		t.Errorf("Get(n) = %#v, want \"42\"", v)
	}
	if !c.IsExist("n") || c.IsExist("missing") {
		t.Error("IsExist wrong")
	}
	if err := c.Delete("n"); err != nil || c.IsExist("n") {
		t.Errorf("Delete: %v, still there: %v", err, c.IsExist("n"))
	}
	if err := c.Delete("n"); err != nil {
		t.Errorf("Delete(missing) = %v", err)
	}
	if err := c.SetContext(t.Context(), "short", "x", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if v := c.GetContext(t.Context(), "short"); v != nil {
		t.Errorf("expired value = %#v, want nil", v)
	}
}
