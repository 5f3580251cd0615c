package campaigns

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Arm is one variant's count under a split's metric: Successes of Trials
// (opened of sent, or redeemed of issued).
type Arm struct {
	Name      string
	Successes int
	Trials    int
}

// Rate is Successes / Trials, 0 with no trials.
func (a Arm) Rate() float64 {
	if a.Trials <= 0 {
		return 0
	}
	return float64(min(a.Successes, a.Trials)) / float64(a.Trials)
}

// Arm is what variant stats s count under w's metric.
func (w WinnerRule) Arm(s VariantStats) Arm {
	if w.Metric == MetricRedeemed {
		return Arm{Name: s.Name, Successes: s.CouponsRedeemed, Trials: s.CouponsIssued}
	}
	return Arm{Name: s.Name, Successes: s.Opened, Trials: s.Sent}
}

// ZTest is the pooled two-proportion z-test of x1 successes in n1 trials
// against x2 in n2: z is positive when the first rate is the higher, p is
// the two-sided p-value (erfc(|z|/√2)). Equal rates, an empty arm, or no
// variance at all (every trial a success, or none) give z = 0, p = 1: no
// evidence of a difference.
func ZTest(x1, n1, x2, n2 int) (z, p float64) {
	if n1 <= 0 || n2 <= 0 {
		return 0, 1
	}
	x1, x2 = min(max(x1, 0), n1), min(max(x2, 0), n2)
	if int64(x1)*int64(n2) == int64(x2)*int64(n1) {
		return 0, 1 // equal rates, compared exactly rather than in floating point
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	pooled := float64(x1+x2) / float64(n1+n2)
	se := math.Sqrt(pooled * (1 - pooled) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 || math.IsNaN(se) {
		return 0, 1
	}
	z = (p1 - p2) / se
	return z, math.Erfc(math.Abs(z) / math.Sqrt2)
}

// Verdict is what Decide found.
type Verdict struct {
	Winner string // the variant declared the winner; "" when none is
	Best   string // the variant with the highest rate (the first of equals)
	Other  string // the variant Best is least clearly ahead of: the comparison reported
	Z, P   float64
	// Enough: every variant has at least MinSample trials.
	Enough bool
	// Significant: Enough, and Best beats every other variant at the
	// rule's confidence. Winner is set exactly when it is.
	Significant bool
	Reason      string // in plain words, for the admin API
}

// Decide judges a split from its variants' arms (in the split's order).
// The best rate is compared with each other variant's by ZTest; with k
// variants each comparison must pass at the Bonferroni-corrected level
// (1 - Confidence) / (k - 1), two-sided, with the best rate strictly
// higher. Only when every variant has MinSample trials and every
// comparison passes is the best declared the winner; equal rates never
// pass (z = 0, p = 1). The reported Z and P are those of the weakest
// comparison.
func (w WinnerRule) Decide(arms []Arm) Verdict {
	v := Verdict{P: 1}
	if len(arms) < 2 {
		v.Reason = "a split needs at least 2 variants"
		return v
	}
	best := 0
	for i := range arms {
		if higher(arms[i], arms[best]) {
			best = i
		}
	}
	alpha := (1 - w.Confidence) / float64(len(arms)-1)
	pass, other := true, -1
	for i := range arms {
		if i == best {
			continue
		}
		z, p := ZTest(arms[best].Successes, arms[best].Trials, arms[i].Successes, arms[i].Trials)
		if other < 0 || p > v.P || p == v.P && z < v.Z {
			other, v.Z, v.P = i, z, p
		}
		if !(z > 0 && p < alpha) {
			pass = false
		}
	}
	v.Best, v.Other = arms[best].Name, arms[other].Name
	var short []string
	for _, a := range arms {
		if a.Trials < w.MinSample {
			short = append(short, fmt.Sprintf("%s has %d of %d %s", a.Name, a.Trials, w.MinSample, w.unit()))
		}
	}
	v.Enough = len(short) == 0
	v.Significant = v.Enough && pass
	if v.Significant {
		v.Winner = v.Best
	}
	if !v.Enough {
		v.Reason = "not enough data: " + strings.Join(short, ", ")
		return v
	}
	v.Reason = w.compare(arms[best], arms[other], len(arms)) + w.significance(v, alpha, len(arms))
	return v
}

// higher reports whether a's rate is above b's, compared exactly.
func higher(a, b Arm) bool {
	if a.Trials <= 0 {
		return false
	}
	if b.Trials <= 0 {
		return true
	}
	return int64(min(a.Successes, a.Trials))*int64(b.Trials) > int64(min(b.Successes, b.Trials))*int64(a.Trials)
}

func (w WinnerRule) unit() string {
	if w.Metric == MetricRedeemed {
		return "coupons issued"
	}
	return "messages sent"
}

// compare says how best's rate stands to other's, e.g. "b opens 23% more
// often than a (12.1% vs 9.8%)".
func (w WinnerRule) compare(best, other Arm, k int) string {
	rb, ro := best.Rate(), other.Rate()
	versus := fmt.Sprintf("(%s vs %s)", percent(rb), percent(ro))
	if !higher(best, other) {
		if w.Metric == MetricRedeemed {
			return fmt.Sprintf("coupons of %s and %s are redeemed equally often (%s)", best.Name, other.Name, percent(rb))
		}
		return fmt.Sprintf("%s and %s open equally often (%s)", best.Name, other.Name, percent(rb))
	}
	more, than := "more often", "than"
	switch {
	case ro > 0 && rb/ro >= 2:
		more, than = strconv.FormatFloat(math.Round(rb/ro*10)/10, 'f', -1, 64)+" times as often", "as"
	case ro > 0:
		more = strconv.FormatFloat(math.Round((rb/ro-1)*100), 'f', -1, 64) + "% more often"
	}
	name := other.Name
	if k > 2 {
		name += ", the closest of the others"
	}
	if w.Metric == MetricRedeemed {
		return fmt.Sprintf("coupons of %s are redeemed %s %s those of %s %s", best.Name, more, than, name, versus)
	}
	return fmt.Sprintf("%s opens %s %s %s %s", best.Name, more, than, name, versus)
}

// significance says whether v passes, e.g. "; significant at 95% (p = 0.003)".
func (w WinnerRule) significance(v Verdict, alpha float64, k int) string {
	level := strconv.FormatFloat(math.Round(w.Confidence*1000)/10, 'f', -1, 64) + "%"
	p := "p = " + strconv.FormatFloat(math.Round(v.P*1000)/1000, 'f', -1, 64)
	if v.P < 0.001 {
		p = "p < 0.001"
	}
	if v.Significant {
		return fmt.Sprintf("; significant at %s (%s)", level, p)
	}
	needs := "needs p < " + strconv.FormatFloat(alpha, 'g', 3, 64)
	if k > 2 {
		needs += fmt.Sprintf(" for each of %d comparisons", k-1)
	}
	return fmt.Sprintf("; not significant at %s (%s, %s)", level, p, needs)
}

// percent formats a rate as a percentage with one decimal: 12.1%.
func percent(r float64) string { return strconv.FormatFloat(r*100, 'f', 1, 64) + "%" }
