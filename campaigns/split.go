package campaigns

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"gopkg.in/yaml.v3"
)

// Split is an A/B test (split:): each follower gets the do: of one named
// variant, chosen by weight and stable for that follower (Assign), until
// Winner's rule declares one variant better; from then on everyone gets the
// winner's do:.
type Split struct {
	Variants []Variant
	Winner   WinnerRule
	line     int // where split: is written
}

// Variant is one arm of a split.
type Variant struct {
	Name   string
	Weight int // a positive whole number; the share is Weight over the sum of all weights
	Do     []Action
	line   int
}

// WinnerRule is when a split ends (split.winner): every variant has at
// least MinSample trials of Metric and the best variant's rate beats every
// other's in a two-sided pooled two-proportion z-test at Confidence
// (Bonferroni-corrected for more than two variants; see Decide).
type WinnerRule struct {
	Metric     string // MetricOpened or MetricRedeemed
	MinSample  int
	Confidence float64 // in (0.5, 1); default 0.95
}

// Metrics a split's winner is judged by (split.winner.metric).
const (
	// MetricOpened is opened / sent: of the messages WeChat accepted, the
	// share whose deep link was opened.
	MetricOpened = "opened"
	// MetricRedeemed is coupons_redeemed / coupons_issued: of the coupons
	// the variant issued, the share redeemed.
	MetricRedeemed = "redeemed"
)

// DefaultConfidence is split.winner.confidence when none is given.
const DefaultConfidence = 0.95

// Assign is the variant of the follower openid in campaign: a SHA-256 of
// (campaign, openid) taken as a number in [0, sum of weights) and matched
// against the cumulative weights. The answer depends on nothing else, so
// WeChat's retries, queue redeliveries, restarts and other omo processes
// all give the same follower the same variant. nil when s has no variants.
func (s *Split) Assign(campaign, openid string) *Variant {
	total := 0
	for _, v := range s.Variants {
		total += v.Weight
	}
	if total <= 0 {
		return nil
	}
	sum := sha256.Sum256([]byte(campaign + "\x00" + openid))
	// The modulo bias of a 64-bit number over a total of at most a few
	// thousand is below 1e-15.
	x := int(binary.BigEndian.Uint64(sum[:8]) % uint64(total))
	for i := range s.Variants {
		if x < s.Variants[i].Weight {
			return &s.Variants[i]
		}
		x -= s.Variants[i].Weight
	}
	return &s.Variants[len(s.Variants)-1]
}

// Variant returns the variant called name, or nil.
func (s *Split) Variant(name string) *Variant {
	for i := range s.Variants {
		if s.Variants[i].Name == name {
			return &s.Variants[i]
		}
	}
	return nil
}

// Actions returns what campaign c does for variant ("" for a campaign
// without split:): its do:, or the variant's. nil for an unknown variant.
func (c *Campaign) Actions(variant string) []Action {
	if c.Split == nil {
		return c.Do
	}
	if v := c.Split.Variant(variant); v != nil {
		return v.Do
	}
	return nil
}

// actionLists are the campaign's lists of actions with the field path each
// is written at: do, or every split.variants[i].do.
func (c *Campaign) actionLists() []actionList {
	if c.Split == nil {
		return []actionList{{"do", c.Do}}
	}
	out := make([]actionList, len(c.Split.Variants))
	for i, v := range c.Split.Variants {
		out[i] = actionList{fmt.Sprintf("split.variants[%d].do", i), v.Do}
	}
	return out
}

type actionList struct {
	field   string
	actions []Action
}

// maxWeight bounds a variant's weight: percentages or per-mille, not more.
const maxWeight = 10_000

func (d *decoder) split(n *yaml.Node, path string) *Split {
	s := &Split{line: n.Line, Winner: WinnerRule{Confidence: DefaultConfidence}}
	var variants *yaml.Node
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"variants": func(v *yaml.Node, f string) { variants = v; s.Variants = d.variants(v, f) },
		"winner":   func(v *yaml.Node, f string) { d.winner(v, f, &s.Winner) },
	}, "variants", "winner")
	if variants != nil && variants.Kind == yaml.SequenceNode && len(variants.Content) < 2 {
		d.bad(variants, path+".variants", "has %d variant(s): a split compares at least 2", len(variants.Content))
	}
	return s
}

func (d *decoder) variants(n *yaml.Node, path string) []Variant {
	if n.Kind != yaml.SequenceNode {
		d.bad(n, path, "want a list of variants, got %s", kindName(n))
		return nil
	}
	seen := map[string]int{}
	var out []Variant
	for i, it := range n.Content {
		f := fmt.Sprintf("%s[%d]", path, i)
		v := Variant{line: it.Line}
		var name *yaml.Node
		d.fields(it, f, map[string]func(*yaml.Node, string){
			"name": func(x *yaml.Node, f string) { name = x; d.variantName(x, f, &v.Name) },
			"weight": func(x *yaml.Node, f string) {
				w, _ := d.integer(x, f, 1, maxWeight)
				v.Weight = int(w)
			},
			"do": func(x *yaml.Node, f string) { v.Do = d.actions(x, f) },
		}, "name", "weight", "do")
		if prev, ok := seen[v.Name]; ok && v.Name != "" {
			d.bad(name, f+".name", "%q is already the name of variant %d (line %d)", v.Name, prev, n.Content[prev].Line)
		} else if v.Name != "" {
			seen[v.Name] = i
		}
		out = append(out, v)
	}
	return out
}

// variantName reads a variant's name: like an id, as it shows in stats,
// URLs and the recorded winner.
func (d *decoder) variantName(n *yaml.Node, field string, dst *string) {
	var s string
	if !d.str(n, field, &s) {
		return
	}
	if s == "" {
		d.bad(n, field, "is empty")
		return
	}
	if !validID(s) {
		d.bad(n, field, "%q: use 1-64 letters, digits, '-', '_' or '.'", s)
		return
	}
	*dst = s
}

func (d *decoder) winner(n *yaml.Node, path string, w *WinnerRule) {
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"metric": func(v *yaml.Node, f string) {
			if d.str(v, f, &w.Metric) && w.Metric != MetricOpened && w.Metric != MetricRedeemed {
				d.bad(v, f, "%q: want opened (opened/sent) or redeemed (coupons_redeemed/coupons_issued)", w.Metric)
			}
		},
		"min_sample": func(v *yaml.Node, f string) {
			k, _ := d.integer(v, f, 1, 1<<40)
			w.MinSample = int(k)
		},
		"confidence": func(v *yaml.Node, f string) {
			c, ok := d.number(v, f, math.Inf(-1), math.Inf(1))
			switch {
			case !ok:
			case c <= 0.5 || c >= 1:
				d.bad(v, f, "must be above 0.5 and below 1 (0.95 is 95%%), got %g", c)
			default:
				w.Confidence = c
			}
		},
	}, "metric", "min_sample")
}

// checkSplit checks what a split's variants must share: no mass send
// (one message for a whole chunk of recipients, where each follower is to
// get their variant's), and something its metric can count in every
// variant.
func (s *Set) checkSplit(c *Campaign, bad badFunc) {
	for i, v := range c.Split.Variants {
		field := fmt.Sprintf("split.variants[%d].do", i)
		opens, coupons := false, false
		for j, a := range v.Do {
			switch a.Kind {
			case ActMass:
				bad(a.Pos, 0, fmt.Sprintf("%s[%d].%s", field, j, a.Kind),
					"does not apply in a split: a mass send is one message for a whole chunk of recipients, and a split gives each follower their own variant (use send_subscribe, or make one campaign per message)")
			case ActTemplate, ActSubscribe:
				opens = true
			case ActCustom:
				opens = opens || a.Send != nil && a.Send.Card != nil
			case ActIssueCoupon:
				coupons = true
			}
		}
		switch {
		case v.Do == nil:
		case c.Split.Winner.Metric == MetricOpened && !opens:
			bad(c.Pos, v.line, field, "variant %s sends no message with a deep link, so split.winner.metric opened (opened/sent) has nothing to count: give it a send_template, send_subscribe or send_custom miniprogram card", v.Name)
		case c.Split.Winner.Metric == MetricRedeemed && !coupons:
			bad(c.Pos, v.line, field, "variant %s issues no coupon, so split.winner.metric redeemed (coupons_redeemed/coupons_issued) has nothing to count: give it an issue_coupon", v.Name)
		}
	}
}

// describe says in lines what the split does, for `omo campaigns plan`;
// none for a nil split.
func (s *Split) describe() []string {
	if s == nil {
		return nil
	}
	var parts []string
	for _, v := range s.Variants {
		parts = append(parts, fmt.Sprintf("%s %d", v.Name, v.Weight))
	}
	w := s.Winner
	lines := []string{fmt.Sprintf("split: %s; winner by %s at %g%% confidence once every variant has %d",
		strings.Join(parts, ", "), w.Metric, w.Confidence*100, w.MinSample)}
	for _, v := range s.Variants {
		for i, a := range v.Do {
			lines = append(lines, fmt.Sprintf("split %s do[%d]: %s", v.Name, i, a.Describe()))
		}
	}
	return lines
}
