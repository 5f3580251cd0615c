package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	pushes   *prometheus.CounterVec
	duration prometheus.Histogram
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omo_webhook_pushes_total",
			Help: "Pushes received on /wechat/oa by outcome (handled, duplicate, bad_signature, malformed, too_large, error) and type.",
		}, []string{"outcome", "type"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "omo_webhook_duration_seconds",
			Help:    "Time from reading a push to answering it.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
	reg.MustRegister(m.pushes, m.duration)
	return m
}
