//! Prometheus metrics: one registry per service (so `zhiwang up` can serve each service's
//! `/metrics` separately), HTTP request counters and latency histograms recorded by middleware.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// A service's metrics registry and the HTTP metrics every service has.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
}

impl Metrics {
    /// A registry whose metrics carry `service="<name>"`.
    pub fn new(service: &str) -> Metrics {
        let mut labels = std::collections::HashMap::new();
        labels.insert("service".to_owned(), service.to_owned());
        let registry = Registry::new_custom(Some("zw".to_owned()), Some(labels))
            .unwrap_or_else(|_| Registry::new());
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route pattern, method and status",
            ),
            &["route", "method", "status"],
        )
        .unwrap_or_else(|_| unreachable_metric());
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
            ),
            &["route", "method"],
        )
        .unwrap_or_else(|_| unreachable_histogram());
        let _ = registry.register(Box::new(http_requests.clone()));
        let _ = registry.register(Box::new(http_duration.clone()));
        Metrics {
            registry,
            http_requests,
            http_duration,
        }
    }

    /// Register a service-specific collector.
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) {
        if let Err(e) = self.registry.register(c) {
            tracing::warn!(error = %e, "metric not registered");
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

// The metric definitions above are constants and always valid; these keep the code panic-free.
fn unreachable_metric() -> IntCounterVec {
    IntCounterVec::new(Opts::new("unused_total", "unused"), &["x"])
        .unwrap_or_else(|_| std::process::abort())
}
fn unreachable_histogram() -> HistogramVec {
    HistogramVec::new(HistogramOpts::new("unused", "unused"), &["x"])
        .unwrap_or_else(|_| std::process::abort())
}
