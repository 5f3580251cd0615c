package campaigns

import (
	"math"

	"gopkg.in/yaml.v3"
)

func (d *decoder) pool(n *yaml.Node) *CouponPool {
	p := &CouponPool{Pos: Pos{d.file, n.Line}}
	var validFor, validUntil *yaml.Node
	d.fields(n, "", map[string]func(*yaml.Node, string){
		"kind":     func(*yaml.Node, string) {},
		"id":       func(v *yaml.Node, f string) { d.id(v, f, &p.ID) },
		"title":    func(v *yaml.Node, f string) { d.str(v, f, &p.Title) },
		"discount": func(v *yaml.Node, f string) { d.discount(v, f, p) },
		"stock": func(v *yaml.Node, f string) {
			p.Stock, _ = d.integer(v, f, 1, math.MaxInt32)
		},
		"per_follower": func(v *yaml.Node, f string) {
			n, _ := d.integer(v, f, 0, 1000)
			p.PerFollower = int(n)
		},
		"valid_for": func(v *yaml.Node, f string) {
			validFor = v
			p.ValidFor, _ = d.duration(v, f)
		},
		"valid_until": func(v *yaml.Node, f string) {
			validUntil = v
			p.ValidUntil, _ = d.timestamp(v, f)
		},
	}, "id", "title", "discount", "stock")
	switch {
	case validFor != nil && validUntil != nil:
		d.bad(validUntil, "valid_until", "give valid_for or valid_until, not both")
	case validFor == nil && validUntil == nil:
		d.bad(n, "valid_for", "is required (or valid_until)")
	}
	return p
}

func (d *decoder) discount(n *yaml.Node, path string, p *CouponPool) {
	var amount, minSpend, percent *yaml.Node
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"amount_fen": func(v *yaml.Node, f string) {
			amount = v
			p.AmountFen, _ = d.integer(v, f, 1, 100_000_000)
		},
		"min_spend_fen": func(v *yaml.Node, f string) {
			minSpend = v
			p.MinSpendFen, _ = d.integer(v, f, 0, 100_000_000)
		},
		"percent": func(v *yaml.Node, f string) {
			percent = v
			n, _ := d.integer(v, f, 1, 99)
			p.Percent = int(n)
		},
	})
	switch {
	case amount != nil && percent != nil:
		d.bad(percent, path+".percent", "give amount_fen or percent, not both")
	case amount == nil && percent == nil && n.Kind == yaml.MappingNode:
		d.bad(n, path, "needs amount_fen or percent")
	}
	if amount != nil && p.MinSpendFen > 0 && p.MinSpendFen < p.AmountFen {
		d.bad(minSpend, path+".min_spend_fen", "is below amount_fen (%d < %d)", p.MinSpendFen, p.AmountFen)
	}
}

// id reads an identifier: letters, digits, '-', '_' and '.', 1-64 characters.
func (d *decoder) id(n *yaml.Node, field string, dst *string) {
	var s string
	d.str(n, field, &s)
	if s == "" {
		return
	}
	if !validID(s) {
		d.bad(n, field, "%q: use 1-64 letters, digits, '-', '_' or '.'", s)
		return
	}
	*dst = s
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return false
		}
	}
	return true
}
