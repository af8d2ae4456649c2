package jobs

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// registry holds the worker's metrics.
var registry = prometheus.NewRegistry()

var (
	metricRestores = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_restores_total",
		Help: "Restores and rollbacks by kind (scope_mode) and outcome.",
	}, []string{"kind", "outcome"})
	metricRestoreSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "portal_restore_duration_seconds",
		Help:    "Duration of restore attempts by kind.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 16),
	}, []string{"kind"})
	metricRestoreBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "portal_restore_bytes_total",
		Help: "Compressed snapshot bytes read from S3 by restores.",
	})
	metricS3Resumes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "portal_restore_s3_resumes_total",
		Help: "Ranged GETs issued to resume snapshot downloads after a broken connection.",
	})
)

func init() {
	registry.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
		metricRestores, metricRestoreSeconds, metricRestoreBytes, metricS3Resumes)
}

// MetricsHandler serves the worker's /metrics.
func MetricsHandler() http.Handler {
	return promhttp.HandlerFor(registry, promhttp.HandlerOpts{})
}
