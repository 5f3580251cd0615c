package campaigns

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultTimeZone is a campaign's time zone when it names none.
const DefaultTimeZone = "Asia/Shanghai"

func (d *decoder) campaign(n *yaml.Node) *Campaign {
	c := &Campaign{Pos: Pos{d.file, n.Line}}
	loc, _ := time.LoadLocation(DefaultTimeZone)
	c.Location = loc
	var doNode, splitNode *yaml.Node
	d.fields(n, "", map[string]func(*yaml.Node, string){
		"kind":  func(*yaml.Node, string) {},
		"id":    func(v *yaml.Node, f string) { d.id(v, f, &c.ID) },
		"title": func(v *yaml.Node, f string) { d.str(v, f, &c.Title) },
		"timezone": func(v *yaml.Node, f string) {
			var s string
			if !d.str(v, f, &s) {
				return
			}
			// "" and "Local" would be the server's zone, never the marketer's.
			if l, err := time.LoadLocation(s); err != nil || s == "" || s == "Local" {
				d.bad(v, f, "%q is not a time zone such as Asia/Shanghai", s)
			} else {
				c.Location = l
			}
		},
		"window": func(v *yaml.Node, f string) { d.window(v, f, &c.Start, &c.End) },
		"on":     func(v *yaml.Node, f string) { d.trigger(v, f, &c.On) },
		"when":   func(v *yaml.Node, f string) { c.When = d.audience(v, f) },
		"limits": func(v *yaml.Node, f string) { d.limits(v, f, &c.Limits) },
		"do":     func(v *yaml.Node, f string) { doNode = v; c.Do = d.actions(v, f) },
		"split":  func(v *yaml.Node, f string) { splitNode = v; c.Split = d.split(v, f) },
	}, "id", "on")
	switch {
	case doNode == nil && splitNode == nil && n.Kind == yaml.MappingNode:
		d.bad(n, "do", "is required (or split: with a do: per variant)")
	case doNode != nil && splitNode != nil:
		d.bad(keyNode(n, "split"), "split", "give do: or split:, not both (each variant of a split has its own do:)")
	}
	return c
}

func (d *decoder) window(n *yaml.Node, path string, start, end *time.Time) {
	var endNode *yaml.Node
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"start": func(v *yaml.Node, f string) { *start, _ = d.timestamp(v, f) },
		"end": func(v *yaml.Node, f string) {
			endNode = v
			*end, _ = d.timestamp(v, f)
		},
	})
	if endNode != nil && !start.IsZero() && !end.IsZero() && !end.After(*start) {
		d.bad(endNode, path+".end", "is not after window.start: the campaign could never run")
	}
}

var matchModes = map[string]bool{"exact": true, "contains": true, "regex": true}

func (d *decoder) trigger(n *yaml.Node, path string, t *Trigger) {
	set := map[string]*yaml.Node{}
	var order []string // set's keys in file order, so problems come out in a stable order
	mark := func(v *yaml.Node, f string) {
		name := f[strings.LastIndex(f, ".")+1:]
		set[name] = v
		order = append(order, name)
	}
	var event *yaml.Node
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"event": func(v *yaml.Node, f string) {
			event = v
			d.str(v, f, &t.Event)
		},
		"scene":        func(v *yaml.Node, f string) { mark(v, f); d.str(v, f, &t.Scene) },
		"scene_prefix": func(v *yaml.Node, f string) { mark(v, f); d.str(v, f, &t.ScenePrefix) },
		"text":         func(v *yaml.Node, f string) { mark(v, f); d.str(v, f, &t.Text) },
		"match":        func(v *yaml.Node, f string) { mark(v, f); d.str(v, f, &t.Match) },
		"key":          func(v *yaml.Node, f string) { mark(v, f); d.name(v, f, &t.Key) },
		"within_km": func(v *yaml.Node, f string) {
			mark(v, f)
			t.WithinKM, _ = d.number(v, f, 0.01, 20000)
		},
		"nearest": func(v *yaml.Node, f string) {
			mark(v, f)
			k, _ := d.integer(v, f, 1, 10)
			t.Nearest = int(k)
		},
		"cron": func(v *yaml.Node, f string) { mark(v, f); d.str(v, f, &t.Cron) },
		"at":   func(v *yaml.Node, f string) { mark(v, f); t.atLine = v.Line; t.At, _ = d.timestamp(v, f) },
		"within": func(v *yaml.Node, f string) {
			mark(v, f)
			t.Within, _ = d.duration(v, f)
		},
		"pool":     func(v *yaml.Node, f string) { mark(v, f); t.poolLine = v.Line; d.name(v, f, &t.Pool) },
		"catch_up": func(v *yaml.Node, f string) { mark(v, f); d.str(v, f, &t.CatchUp) },
		"max_lateness": func(v *yaml.Node, f string) {
			mark(v, f)
			t.MaxLateness, _ = d.duration(v, f)
		},
	}, "event")
	allowed := map[string][]string{
		OnSubscribe:      {"scene", "scene_prefix"},
		OnScan:           {"scene", "scene_prefix"},
		OnKeyword:        {"text", "match"},
		OnMenuClick:      {"key"},
		OnLocation:       {"within_km", "nearest"},
		OnSchedule:       {"cron", "at", "catch_up", "max_lateness"},
		OnCouponExpiring: {"pool", "within"},
	}
	fields, ok := allowed[t.Event]
	if !ok {
		if t.Event != "" {
			d.bad(event, path+".event", "%q: want subscribe, scan, location, keyword, menu_click, schedule or coupon_expiring", t.Event)
		}
		return
	}
	for _, name := range order {
		if v := set[name]; !contains(fields, name) {
			d.bad(v, path+"."+name, "does not apply to event %s (it takes %s)", t.Event, strings.Join(fields, ", "))
		}
	}
	d.checkTrigger(n, path, t, set)
}

// checkTrigger checks what one field alone cannot tell. A field that is
// there but wrong was reported when it was read; "is required" is only for
// a field that is not there at all.
func (d *decoder) checkTrigger(n *yaml.Node, path string, t *Trigger, set map[string]*yaml.Node) {
	switch t.Event {
	case OnSubscribe, OnScan:
		if set["scene"] != nil && set["scene_prefix"] != nil {
			d.bad(set["scene_prefix"], path+".scene_prefix", "give scene or scene_prefix, not both")
		}
		for _, f := range []struct{ name, value string }{{"scene", t.Scene}, {"scene_prefix", t.ScenePrefix}} {
			if rest, ok := strings.CutPrefix(f.value, "qrscene_"); ok {
				d.bad(set[f.name], path+"."+f.name, "write the scene without qrscene_ (omo strips it): %q", rest)
			}
		}
	case OnKeyword:
		d.checkKeyword(n, path, t, set)
	case OnMenuClick:
		if set["key"] == nil {
			d.bad(n, path+".key", "is required for menu_click")
		}
	case OnLocation:
		if set["within_km"] == nil {
			d.bad(n, path+".within_km", "is required for location")
		}
		if t.Nearest == 0 {
			t.Nearest = 1
		}
	case OnSchedule:
		d.checkSchedule(n, path, t, set)
	case OnCouponExpiring:
		if set["within"] == nil {
			d.bad(n, path+".within", "is required for coupon_expiring")
		}
		if set["pool"] == nil {
			d.bad(n, path+".pool", "is required for coupon_expiring: the pool whose coupons are watched")
		}
	}
}

func (d *decoder) checkSchedule(n *yaml.Node, path string, t *Trigger, set map[string]*yaml.Node) {
	if (t.Cron == "") == t.At.IsZero() && set["cron"] == nil && set["at"] == nil || set["cron"] != nil && set["at"] != nil {
		d.bad(n, path, "schedule takes cron or at (one of them)")
	}
	if t.Cron != "" {
		if len(strings.Fields(t.Cron)) != 5 && !strings.HasPrefix(t.Cron, "@") {
			d.bad(set["cron"], path+".cron", "%q: want 5 fields (minute hour day month weekday)", t.Cron)
		} else if s, err := parseCron(t.Cron); err != nil {
			d.bad(set["cron"], path+".cron", "%q: %v", t.Cron, err)
		} else {
			t.schedule = s
		}
	}
	switch t.CatchUp {
	case "":
		t.CatchUp = CatchUpSkip
	case CatchUpSkip, CatchUpOnce:
	default:
		d.bad(set["catch_up"], path+".catch_up", "%q: want skip or once", t.CatchUp)
	}
	if t.MaxLateness == 0 {
		t.MaxLateness = DefaultMaxLateness
	}
}

func (d *decoder) checkKeyword(n *yaml.Node, path string, t *Trigger, set map[string]*yaml.Node) {
	text := strings.TrimSpace(t.Text)
	switch v := set["text"]; {
	case v == nil:
		d.bad(n, path+".text", "is required for keyword")
	case text == "" && v.Kind == yaml.ScalarNode && v.Tag != "!!null":
		d.bad(v, path+".text", "is empty")
	}
	if t.Match == "" {
		t.Match = "exact"
	}
	if !matchModes[t.Match] {
		d.bad(set["match"], path+".match", "%q: want exact, contains or regex", t.Match)
		return
	}
	if t.Match == "regex" && text != "" {
		re, err := regexp.Compile("(?i)" + text)
		if err != nil {
			d.bad(set["text"], path+".text", "bad regex: %v", err)
			return
		}
		t.re = re
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (d *decoder) audience(n *yaml.Node, path string) Audience {
	a := Audience{lines: map[string]int{}}
	at := func(v *yaml.Node, f string) { a.lines[f[strings.LastIndex(f, ".")+1:]] = v.Line }
	moment := func(dst *Moment) func(*yaml.Node, string) {
		return func(v *yaml.Node, f string) { at(v, f); *dst = d.moment(v, f) }
	}
	since := func(dst *time.Duration) func(*yaml.Node, string) {
		return func(v *yaml.Node, f string) { at(v, f); *dst, _ = d.duration(v, f) }
	}
	pool := func(dst *string) func(*yaml.Node, string) {
		return func(v *yaml.Node, f string) { at(v, f); d.name(v, f, dst) }
	}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"tags_any":  func(v *yaml.Node, f string) { at(v, f); a.TagsAny = d.strings(v, f) },
		"tags_all":  func(v *yaml.Node, f string) { at(v, f); a.TagsAll = d.strings(v, f) },
		"tags_none": func(v *yaml.Node, f string) { at(v, f); a.TagsNone = d.strings(v, f) },
		"new_follower": func(v *yaml.Node, f string) {
			at(v, f)
			if b, ok := d.boolean(v, f); ok {
				a.NewFollower = &b
			}
		},
		"first_scene":        func(v *yaml.Node, f string) { at(v, f); d.str(v, f, &a.FirstScene) },
		"first_scene_prefix": func(v *yaml.Node, f string) { at(v, f); d.str(v, f, &a.FirstScenePrefix) },
		"store": func(v *yaml.Node, f string) {
			at(v, f)
			if v.Kind == yaml.ScalarNode {
				var id string
				if d.str(v, f, &id) {
					a.Stores = []string{id}
				}
				return
			}
			a.Stores = d.strings(v, f)
		},
		"followed_after":    moment(&a.FollowedAfter),
		"followed_before":   moment(&a.FollowedBefore),
		"active_within":     since(&a.ActiveWithin),
		"inactive_for":      since(&a.InactiveFor),
		"has_unused_coupon": pool(&a.HasUnusedCoupon),
		"no_unused_coupon":  pool(&a.NoUnusedCoupon),
		"never_received": func(v *yaml.Node, f string) {
			at(v, f)
			a.NeverReceived, _ = d.boolean(v, f)
		},
		"near": func(v *yaml.Node, f string) {
			at(v, f)
			nr := &Near{}
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"store":     func(v *yaml.Node, f string) { d.str(v, f, &nr.Store) },
				"within_km": func(v *yaml.Node, f string) { nr.WithinKM, _ = d.number(v, f, 0.01, 20000) },
			}, "store", "within_km")
			a.Near = nr
		},
	})
	return a
}

// moment reads a timestamp or a duration before now (720h).
func (d *decoder) moment(n *yaml.Node, field string) Moment {
	s, ok := d.scalar(n, field)
	if !ok {
		return Moment{}
	}
	if dur, err := parseDuration(s); err == nil {
		if dur <= 0 {
			d.bad(n, field, "%q: want a duration before now above 0, or a timestamp", s)
		}
		return Moment{Ago: dur}
	}
	t, ok := d.timestamp(n, field)
	if !ok {
		return Moment{}
	}
	return Moment{At: t}
}

func (d *decoder) limits(n *yaml.Node, path string, l *Limits) {
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"per_follower": func(v *yaml.Node, f string) {
			k, _ := d.integer(v, f, 1, 1_000_000)
			l.PerFollower = int(k)
		},
		"cooldown": func(v *yaml.Node, f string) { l.Cooldown, _ = d.duration(v, f) },
		"budget":   func(v *yaml.Node, f string) { l.Budget, _ = d.integer(v, f, 1, 1<<40) },
		"rate": func(v *yaml.Node, f string) {
			var s string
			if !d.str(v, f, &s) {
				return
			}
			r, err := parseRate(s)
			if err != nil {
				d.bad(v, f, "%q: %v", s, err)
				return
			}
			l.Rate = r
		},
		"quiet_hours": func(v *yaml.Node, f string) {
			var s string
			if !d.str(v, f, &s) {
				return
			}
			q, err := parseQuiet(s)
			if err != nil {
				d.bad(v, f, "%q: %v", s, err)
				return
			}
			l.Quiet = q
		},
	})
}

// parseRate reads N/s, N/m, N/min or N/h.
func parseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if !ok || err != nil || n < 1 {
		return Rate{}, fmt.Errorf("want N/s, N/m or N/h with N at least 1")
	}
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "min": time.Minute, "h": time.Hour}[strings.TrimSpace(unit)]
	if per == 0 {
		return Rate{}, fmt.Errorf("unit %q: want s, m or h", unit)
	}
	return Rate{N: n, Per: per}, nil
}

// parseQuiet reads HH:MM-HH:MM; the span may cross midnight.
func parseQuiet(s string) (*QuietHours, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return nil, fmt.Errorf("want HH:MM-HH:MM such as 22:00-08:00")
	}
	f, err1 := clock(from)
	t, err2 := clock(to)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("want HH:MM-HH:MM such as 22:00-08:00")
	}
	if f == t {
		return nil, fmt.Errorf("start and end are the same: that is no quiet hours or all day")
	}
	return &QuietHours{From: f, To: t}, nil
}

func clock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// keyNode is the key node of key in mapping n (n itself when there is none):
// the line a problem about the whole field is reported at.
func keyNode(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return n
}
