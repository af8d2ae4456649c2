package jobs

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/restoreportal/portal/internal/runbook"
)

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
	metricDrillBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "portal_drill_bytes_total",
		Help: "Compressed snapshot bytes read from S3 by restore drills (portal_restore_bytes_total counts restores only).",
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
	registry.MustRegister(metricDrills, metricDrillSeconds, metricDrillBytes, metricAlarms, metricAlarmsOpen)
}

// drillRunbook is the restore engine's set-up for a drill: the bytes it
// reads count in portal_drill_bytes_total, not in the restores' counter (its
// S3 resumes still count with the restores': they measure S3, not restores).
func (d Deps) drillRunbook() runbook.Deps {
	rb := d.runbook()
	rb.OnRead = func(bytes int64, resumes int) {
		metricDrillBytes.Add(float64(bytes))
		metricS3Resumes.Add(float64(resumes))
	}
	return rb
}
