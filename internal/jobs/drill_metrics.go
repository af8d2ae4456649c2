package jobs

import "github.com/prometheus/client_golang/prometheus"

var (
	metricDrills = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_drills_total",
		Help: "Restore drills by outcome (passed, failed, yielded).",
	}, []string{"outcome"})
	metricDrillSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "portal_drill_recovery_seconds",
		Help:    "Recovery time measured by passed drills: from the start to a restored, row-checked copy.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 16),
	})
	metricAlarms = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_health_alarms_total",
		Help: "Snapshot health alarms fired, by condition (each fires once per episode).",
	}, []string{"condition"})
	metricAlarmsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "portal_health_alarms_open",
		Help: "Snapshot health alarms open now, by condition.",
	}, []string{"condition"})
)

func init() {
	registry.MustRegister(metricDrills, metricDrillSeconds, metricAlarms, metricAlarmsOpen)
}
