package campaigns

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

var actionKinds = []string{ActReply, ActIssueCoupon, ActTemplate, ActSubscribe, ActCustom, ActTag, ActUntag, ActMass}

func (d *decoder) actions(n *yaml.Node, path string) []Action {
	if n.Kind != yaml.SequenceNode {
		d.bad(n, path, "want a list of actions, got %s", kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		d.bad(n, path, "has no actions")
	}
	out := make([]Action, 0, len(n.Content))
	for i, it := range n.Content {
		if a, ok := d.action(it, fmt.Sprintf("%s[%d]", path, i)); ok {
			out = append(out, a)
		}
	}
	return out
}

func (d *decoder) action(n *yaml.Node, path string) (Action, bool) {
	a := Action{Pos: Pos{d.file, n.Line}}
	var delay *yaml.Node
	handlers := map[string]func(*yaml.Node, string){
		"delay": func(v *yaml.Node, f string) {
			delay = v
			a.Delay, _ = d.duration(v, f)
		},
	}
	for _, k := range actionKinds {
		k := k
		handlers[k] = func(v *yaml.Node, f string) {
			if a.Kind != "" {
				d.bad(v, f, "one action per list item (this one already has %s)", a.Kind)
				return
			}
			a.Kind = k
			d.actionBody(&a, v, f)
		}
	}
	if !d.fields(n, path, handlers) {
		return a, false
	}
	if a.Kind == "" {
		d.bad(n, path, "names no action: want one of %s", strings.Join(actionKinds, ", "))
		return a, false
	}
	if a.Delay > 0 && (a.Kind == ActReply || a.Kind == ActIssueCoupon) {
		d.bad(delay, path+".delay", "applies to sends and tags, not to %s", a.Kind)
	}
	return a, true
}

func (d *decoder) actionBody(a *Action, v *yaml.Node, path string) {
	switch a.Kind {
	case ActReply:
		d.fields(v, path, map[string]func(*yaml.Node, string){
			"text": func(v *yaml.Node, f string) { a.Reply = d.text(v, f) },
		}, "text")
	case ActIssueCoupon:
		d.fields(v, path, map[string]func(*yaml.Node, string){
			"pool": func(v *yaml.Node, f string) {
				a.poolLine = v.Line
				d.name(v, f, &a.Pool)
			},
		}, "pool")
	case ActTemplate, ActSubscribe:
		a.Send = d.send(v, path, true)
	case ActCustom:
		a.Send = d.custom(v, path)
	case ActMass:
		a.Mass = d.mass(v, path)
	case ActTag, ActUntag:
		if v.Kind == yaml.ScalarNode {
			d.name(v, path, &a.TagName)
			return
		}
		d.fields(v, path, map[string]func(*yaml.Node, string){
			"name": func(v *yaml.Node, f string) { d.name(v, f, &a.TagName) },
		}, "name")
	}
}

// mass decodes a mass send: text or mpnews (a media_id), not both.
func (d *decoder) mass(n *yaml.Node, path string) *Mass {
	m := &Mass{}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"text":                func(v *yaml.Node, f string) { m.Text = d.text(v, f) },
		"mpnews":              func(v *yaml.Node, f string) { d.str(v, f, &m.MediaID) },
		"send_ignore_reprint": func(v *yaml.Node, f string) { m.IgnoreReprint, _ = d.boolean(v, f) },
	})
	if (m.Text == nil) == (m.MediaID == "") {
		d.bad(n, path, "give text or mpnews (an uploaded article's media_id), one of them")
	}
	return m
}

// send decodes a template or subscribe send.
func (d *decoder) send(n *yaml.Node, path string, needTemplate bool) *Send {
	s := &Send{}
	required := []string{"page"}
	if needTemplate {
		required = append(required, "template_id")
	}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"template_id": func(v *yaml.Node, f string) { d.name(v, f, &s.TemplateID) },
		"page":        func(v *yaml.Node, f string) { d.page(v, f, &s.Page) },
		"query":       func(v *yaml.Node, f string) { s.Query, s.queryKeys = d.texts(v, f) },
		"data":        func(v *yaml.Node, f string) { s.Data, s.dataKeys = d.texts(v, f) },
	}, required...)
	return s
}

func (d *decoder) custom(n *yaml.Node, path string) *Send {
	s := &Send{}
	var text *yaml.Node
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"text": func(v *yaml.Node, f string) {
			text = v
			s.Text = d.text(v, f)
		},
		"miniprogram": func(v *yaml.Node, f string) {
			s.Card = &Card{}
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"title":          func(v *yaml.Node, f string) { s.Card.Title = d.text(v, f) },
				"page":           func(v *yaml.Node, f string) { d.page(v, f, &s.Page) },
				"query":          func(v *yaml.Node, f string) { s.Query, s.queryKeys = d.texts(v, f) },
				"thumb_media_id": func(v *yaml.Node, f string) { d.str(v, f, &s.Card.ThumbMediaID) },
			}, "title", "page", "thumb_media_id")
		},
		"fallback": func(v *yaml.Node, f string) {
			s.Fallback = d.send(v, f, true)
		},
	})
	if (text == nil) == (s.Card == nil) && n.Kind == yaml.MappingNode {
		d.bad(n, path, "needs text or miniprogram (one of them)")
	}
	return s
}

// page reads a mini-program page path: no leading slash, no query.
func (d *decoder) page(n *yaml.Node, field string, dst *string) {
	var s string
	d.str(n, field, &s)
	switch {
	case s == "":
	case strings.HasPrefix(s, "/"):
		d.bad(n, field, "%q: write the page without a leading / (pages/index/index)", s)
	case strings.ContainsAny(s, "?#"):
		d.bad(n, field, "%q: put parameters under query:, not in the page", s)
	default:
		*dst = s
	}
}

// texts reads a mapping of templated texts, keeping the key order.
func (d *decoder) texts(n *yaml.Node, path string) (map[string]*Text, []string) {
	if n.Kind != yaml.MappingNode {
		d.bad(n, path, "want a mapping, got %s", kindName(n))
		return nil, nil
	}
	m := map[string]*Text{}
	var keys []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f := join(path, k.Value)
		if _, dup := m[k.Value]; dup {
			d.bad(k, f, "given twice")
			continue
		}
		if t := d.text(v, f); t != nil {
			m[k.Value] = t
			keys = append(keys, k.Value)
		}
	}
	return m, keys
}
