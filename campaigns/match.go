package campaigns

import (
	"slices"
	"strings"
	"time"

	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
)

// Input is what a campaign is matched against: the push, the follower as
// the push left them, what the push changed, and the follower's tags.
type Input struct {
	Event    *events.Event
	Follower *followers.Follower
	Change   followers.Change
	Tags     []string
	Now      time.Time
}

// Active reports whether now is inside the campaign's window.
func (c *Campaign) Active(now time.Time) bool {
	if !c.Start.IsZero() && now.Before(c.Start) {
		return false
	}
	return c.End.IsZero() || !now.After(c.End)
}

// Matches reports whether the campaign fires for in, before limits: the
// window, the trigger and the audience all agree.
func (c *Campaign) Matches(in *Input) bool {
	return c.Active(in.Now) && c.On.Matches(in.Event) && c.When.Matches(in)
}

// Matches reports whether the trigger fires for ev. subscribe and scan
// match the QR scene (no scene or prefix given: any); keyword matches a
// text message, trimmed and case-insensitive; menu_click the menu key;
// location a LOCATION event or a location message. schedule and
// coupon_expiring are not fired by pushes.
func (t *Trigger) Matches(ev *events.Event) bool {
	switch t.Event {
	case OnSubscribe:
		return ev.Type == events.Subscribe && t.sceneMatches(ev.Scene())
	case OnScan:
		return ev.Type == events.Scan && t.sceneMatches(ev.Scene())
	case OnKeyword:
		return ev.Type == events.Text && t.keywordMatches(ev.Content)
	case OnMenuClick:
		return ev.Type == events.Click && ev.EventKey == t.Key
	case OnLocation:
		return ev.Type == events.Location || ev.Type == events.LocationMsg
	}
	return false
}

func (t *Trigger) sceneMatches(scene string) bool {
	switch {
	case t.Scene != "":
		return scene == t.Scene
	case t.ScenePrefix != "":
		return strings.HasPrefix(scene, t.ScenePrefix)
	}
	return true
}

func (t *Trigger) keywordMatches(content string) bool {
	got := strings.TrimSpace(content)
	want := strings.TrimSpace(t.Text)
	switch t.Match {
	case "contains":
		return strings.Contains(strings.ToLower(got), strings.ToLower(want))
	case "regex":
		return t.re != nil && t.re.MatchString(got)
	}
	return strings.EqualFold(got, want)
}

// Matches reports whether the follower in in belongs to the audience.
func (a *Audience) Matches(in *Input) bool {
	if a.NewFollower != nil && *a.NewFollower != in.Change.New {
		return false
	}
	has := make(map[string]bool, len(in.Tags))
	for _, t := range in.Tags {
		has[t] = true
	}
	if len(a.TagsAny) > 0 && !anyIn(a.TagsAny, has) {
		return false
	}
	for _, t := range a.TagsAll {
		if !has[t] {
			return false
		}
	}
	if anyIn(a.TagsNone, has) {
		return false
	}
	first, home := "", ""
	if in.Follower != nil {
		first, home = in.Follower.FirstScene, in.Follower.HomeStore
	}
	if a.FirstScene != "" && first != a.FirstScene {
		return false
	}
	if a.FirstScenePrefix != "" && !strings.HasPrefix(first, a.FirstScenePrefix) {
		return false
	}
	if len(a.Stores) > 0 && !slices.Contains(a.Stores, home) {
		return false
	}
	return true
}

func anyIn(list []string, has map[string]bool) bool {
	for _, t := range list {
		if has[t] {
			return true
		}
	}
	return false
}

// HomeStore is the store id in a store:<id> scene, "" for other scenes.
func HomeStore(scene string) string {
	id, ok := strings.CutPrefix(scene, "store:")
	if !ok {
		return ""
	}
	return id
}

// NeedsTags reports whether matching the audience needs the follower's tags.
func (a *Audience) NeedsTags() bool {
	return len(a.TagsAny)+len(a.TagsAll)+len(a.TagsNone) > 0
}
