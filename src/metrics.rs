//! Prometheus metrics of the operator.
//!
//! [`Metrics`] owns one `prometheus-client` [`Registry`] with every metric the operator
//! exports and hands out cheap clones (`Arc` inside) to the controller, the leader elector
//! and the HTTP server, which renders it with [`Metrics::encode`].
//!
//! What this module must not do: take label values from user input or object names. Every
//! label value is a `&'static str` from a closed set (error categories, object kinds, verbs),
//! so the number of time series stays bounded whatever the cluster contains.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Upper bounds (seconds) of the reconcile duration histogram: 1 ms to 10 s, roughly
/// 1-2.5-5 per decade. A reconcile is a handful of API calls, so most land in 5-250 ms;
/// anything beyond 10 s is stuck on a timeout and only needs to be counted.
const RECONCILE_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    kind: &'static str,
    verb: &'static str,
}

struct Inner {
    registry: Registry,
    reconciles: Counter,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconcile_duration: Histogram,
    writes: Family<WriteLabels, Counter>,
    leader: Gauge,
    ready: Gauge,
}

/// The operator's metrics. Cloning is cheap and every clone updates the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The registry itself is not Debug-friendly; the name is enough in logs.
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the registry with all metrics at zero. The labelled families
    /// (`reconcile_errors`, `writes`) have no series until their first increment.
    pub fn new() -> Self {
        let mut registry = Registry::default();

        let reconciles = Counter::default();
        // prometheus-client appends `_total` to counters when encoding.
        registry.register(
            "stateless_operator_reconciles",
            "Reconciles started",
            reconciles.clone(),
        );

        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "stateless_operator_reconcile_errors",
            "Reconciles that failed, by error category",
            reconcile_errors.clone(),
        );

        let reconcile_duration = Histogram::new(RECONCILE_BUCKETS);
        registry.register_with_unit(
            "stateless_operator_reconcile_duration",
            "Wall-clock duration of reconciles",
            Unit::Seconds,
            reconcile_duration.clone(),
        );

        let writes = Family::<WriteLabels, Counter>::default();
        registry.register(
            "stateless_operator_writes",
            "Write requests sent to the API server, by object kind and verb",
            writes.clone(),
        );

        let leader = Gauge::default();
        registry.register(
            "stateless_operator_leader",
            "1 while this process holds the leader lease, else 0",
            leader.clone(),
        );

        let ready = Gauge::default();
        registry.register(
            "stateless_operator_ready",
            "1 once the controller caches are synced, else 0",
            ready.clone(),
        );

        Self {
            inner: Arc::new(Inner {
                registry,
                reconciles,
                reconcile_errors,
                reconcile_duration,
                writes,
                leader,
                ready,
            }),
        }
    }

    /// Counts a reconcile and returns a guard that records its duration when finished or
    /// dropped (so a cancelled or panicking reconcile is still measured).
    pub fn reconcile_started(&self) -> ReconcileTimer {
        self.inner.reconciles.inc();
        ReconcileTimer {
            histogram: self.inner.reconcile_duration.clone(),
            start: Instant::now(),
            observed: false,
        }
    }

    /// Counts a failed reconcile. `category` must come from the error type's fixed set
    /// (e.g. `Error::category()`), never from an object name or message.
    pub fn reconcile_failed(&self, category: &'static str) {
        self.inner
            .reconcile_errors
            .get_or_create(&ErrorLabels { category })
            .inc();
    }

    /// Counts one write request. `kind` is e.g. `Deployment` or `StatelessService-status`,
    /// `verb` is `apply`, `delete` or `patch`.
    pub fn write(&self, kind: &'static str, verb: &'static str) {
        self.inner
            .writes
            .get_or_create(&WriteLabels { kind, verb })
            .inc();
    }

    /// Records whether this process currently leads.
    pub fn set_leader(&self, leader: bool) {
        self.inner.leader.set(i64::from(leader));
    }

    /// Records whether the controller caches are synced.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.set(i64::from(ready));
    }

    /// Renders all metrics in the OpenMetrics text format (also accepted by Prometheus),
    /// ending with `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail; an encoder error would mean a bug in
        // prometheus-client. Serve what was written rather than panicking a scrape.
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)
        {
            tracing::error!(error = %err, "encoding metrics failed");
        }
        out
    }
}

/// Measures one reconcile; created by [`Metrics::reconcile_started`].
///
/// The duration is observed exactly once: on [`finish`](Self::finish) or on drop.
#[must_use = "the duration is recorded when the timer is finished or dropped"]
pub struct ReconcileTimer {
    histogram: Histogram,
    start: Instant,
    observed: bool,
}

impl ReconcileTimer {
    /// Records the duration now and returns it.
    pub fn finish(mut self) -> Duration {
        self.observe()
    }

    fn observe(&mut self) -> Duration {
        let elapsed = self.start.elapsed();
        if !self.observed {
            self.observed = true;
            self.histogram.observe(elapsed.as_secs_f64());
        }
        elapsed
    }
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.observe();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the value of the sample line that starts with exactly `series` + ' '.
    fn sample(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map(|v| v.split(' ').next().unwrap_or_default().to_string())
    }

    #[test]
    fn fresh_registry_exports_every_metric() {
        let text = Metrics::new().encode();
        for name in [
            "# TYPE stateless_operator_reconciles counter",
            "# TYPE stateless_operator_reconcile_duration_seconds histogram",
            "# UNIT stateless_operator_reconcile_duration_seconds seconds",
            "# TYPE stateless_operator_leader gauge",
            "# TYPE stateless_operator_ready gauge",
        ] {
            assert!(text.contains(name), "missing {name:?} in\n{text}");
        }
        assert_eq!(
            sample(&text, "stateless_operator_reconciles_total").as_deref(),
            Some("0")
        );
        assert_eq!(
            sample(&text, "stateless_operator_leader").as_deref(),
            Some("0")
        );
        assert_eq!(
            sample(&text, "stateless_operator_ready").as_deref(),
            Some("0")
        );
        // prometheus-client leaves a labelled family out until it has a series.
        assert!(!text.contains("stateless_operator_writes"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn counters_and_gauges_reflect_calls() {
        let m = Metrics::new();
        let clone = m.clone();
        drop(m.reconcile_started());
        drop(clone.reconcile_started());
        m.reconcile_failed("kube-api");
        m.reconcile_failed("kube-api");
        m.reconcile_failed("invalid-spec");
        m.write("Deployment", "apply");
        m.write("Deployment", "apply");
        m.write("StatelessService-status", "patch");
        m.write("PersistentVolumeClaim", "delete");
        m.set_leader(true);
        m.set_ready(true);

        let text = m.encode();
        assert!(text.contains("# TYPE stateless_operator_reconcile_errors counter"));
        assert!(text.contains("# TYPE stateless_operator_writes counter"));
        let expect = [
            ("stateless_operator_reconciles_total", "2"),
            (
                "stateless_operator_reconcile_errors_total{category=\"kube-api\"}",
                "2",
            ),
            (
                "stateless_operator_reconcile_errors_total{category=\"invalid-spec\"}",
                "1",
            ),
            (
                "stateless_operator_writes_total{kind=\"Deployment\",verb=\"apply\"}",
                "2",
            ),
            (
                "stateless_operator_writes_total{kind=\"StatelessService-status\",verb=\"patch\"}",
                "1",
            ),
            (
                "stateless_operator_writes_total{kind=\"PersistentVolumeClaim\",verb=\"delete\"}",
                "1",
            ),
            ("stateless_operator_leader", "1"),
            ("stateless_operator_ready", "1"),
        ];
        for (series, value) in expect {
            assert_eq!(
                sample(&text, series).as_deref(),
                Some(value),
                "{series} in\n{text}"
            );
        }

        m.set_leader(false);
        m.set_ready(false);
        let text = m.encode();
        assert_eq!(
            sample(&text, "stateless_operator_leader").as_deref(),
            Some("0")
        );
        assert_eq!(
            sample(&text, "stateless_operator_ready").as_deref(),
            Some("0")
        );
    }

    #[test]
    fn histogram_counts_each_reconcile_once() {
        let m = Metrics::new();
        let timer = m.reconcile_started();
        let elapsed = timer.finish(); // finish, then the drop inside must not observe again
        assert!(elapsed < Duration::from_secs(10));
        {
            let _dropped = m.reconcile_started();
        }
        std::thread::sleep(Duration::from_millis(20));
        let slow = m.reconcile_started();
        std::thread::sleep(Duration::from_millis(20));
        drop(slow);

        let text = m.encode();
        let h = "stateless_operator_reconcile_duration_seconds";
        assert_eq!(sample(&text, &format!("{h}_count")).as_deref(), Some("3"));
        assert_eq!(
            sample(&text, &format!("{h}_bucket{{le=\"+Inf\"}}")).as_deref(),
            Some("3")
        );
        assert_eq!(
            sample(&text, &format!("{h}_bucket{{le=\"10.0\"}}")).as_deref(),
            Some("3")
        );
        // The slow one took >= 20 ms, so it is not in the 10 ms bucket.
        let le_10ms: u64 = sample(&text, &format!("{h}_bucket{{le=\"0.01\"}}"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX);
        assert!(le_10ms <= 2, "{text}");
        let sum: f64 = sample(&text, &format!("{h}_sum"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        assert!(sum >= 0.02, "{text}");
        assert!(
            text.contains(&format!("{h}_bucket{{le=\"0.001\"}}")),
            "{text}"
        );
    }
}
