//! The gateway's counters and gauges, rendered in the Prometheus text
//! format for `GET /metrics`. Plain atomics: the hot path adds, the scrape
//! reads.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// One node's numbers (label `server`).
#[derive(Debug, Default)]
pub(crate) struct NodeMetrics {
    /// This gateway holds the node's lease.
    pub(crate) lease_held: AtomicBool,
    /// The node's AMI session is logged in.
    pub(crate) session_up: AtomicBool,
    /// Events taken from the AMI session.
    pub(crate) events_in: AtomicU64,
    /// Events JetStream acknowledged (stored, or recognised as a repeat).
    pub(crate) events_out: AtomicU64,
    /// Events the AMI event queue dropped under its policy while
    /// JetStream was slow, and events too large for NATS.
    pub(crate) events_dropped: AtomicU64,
    /// Publishes sent again after a failure or a missing ack.
    pub(crate) publish_retries: AtomicU64,
    /// Publishes given up unacknowledged because the lease could not be
    /// renewed in time (they may or may not be stored).
    pub(crate) publishes_abandoned: AtomicU64,
    /// Publishes awaiting their ack now.
    pub(crate) unacked: AtomicU64,
    /// Times this gateway took the node.
    pub(crate) leases_acquired: AtomicU64,
    /// Requests answered with a completion.
    pub(crate) actions_ok: AtomicU64,
    /// Requests answered with an error.
    pub(crate) actions_failed: AtomicU64,
}

/// Buckets of the publish-latency histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Every number of the gateway.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Per node, in configuration order.
    pub(crate) nodes: Vec<(String, NodeMetrics)>,
    /// The NATS connection is up.
    pub(crate) nats_connected: AtomicBool,
    /// Publish-to-ack latency: cumulative bucket counts, then the sum in µs.
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
}

impl Metrics {
    pub(crate) fn new(servers: impl IntoIterator<Item = String>) -> Self {
        Metrics {
            nodes: servers
                .into_iter()
                .map(|s| (s, NodeMetrics::default()))
                .collect(),
            nats_connected: AtomicBool::new(false),
            latency: Default::default(),
            latency_sum_us: AtomicU64::new(0),
        }
    }

    /// The numbers of node `index` (configuration order).
    pub(crate) fn node(&self, index: usize) -> &NodeMetrics {
        &self.nodes[index].1
    }

    /// Records one publish's time from send to ack.
    pub(crate) fn observe_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.latency[slot].fetch_add(1, Relaxed);
        self.latency_sum_us
            .fetch_add(d.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }

    /// The Prometheus text exposition of everything.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let gauge =
            |out: &mut String, name: &str, help: &str, get: &dyn Fn(&NodeMetrics) -> u64| {
                series(out, name, help, "gauge", &self.nodes, get)
            };
        let counter =
            |out: &mut String, name: &str, help: &str, get: &dyn Fn(&NodeMetrics) -> u64| {
                series(out, name, help, "counter", &self.nodes, get)
            };
        let _ = writeln!(
            out,
            "# HELP ami_gateway_nats_connected Whether the NATS connection is up.\n\
             # TYPE ami_gateway_nats_connected gauge\nami_gateway_nats_connected {}",
            u8::from(self.nats_connected.load(Relaxed))
        );
        gauge(
            &mut out,
            "ami_gateway_lease_held",
            "Whether this gateway holds the node's lease.",
            &|n| u64::from(n.lease_held.load(Relaxed)),
        );
        gauge(
            &mut out,
            "ami_gateway_session_up",
            "Whether the node's AMI session is logged in.",
            &|n| u64::from(n.session_up.load(Relaxed)),
        );
        gauge(
            &mut out,
            "ami_gateway_unacked",
            "Publishes awaiting their JetStream ack.",
            &|n| n.unacked.load(Relaxed),
        );
        counter(
            &mut out,
            "ami_gateway_events_in_total",
            "Events taken from the AMI session.",
            &|n| n.events_in.load(Relaxed),
        );
        counter(
            &mut out,
            "ami_gateway_events_out_total",
            "Events JetStream acknowledged.",
            &|n| n.events_out.load(Relaxed),
        );
        counter(
            &mut out,
            "ami_gateway_events_dropped_total",
            "Events dropped by the AMI event queue's policy or too large for NATS.",
            &|n| n.events_dropped.load(Relaxed),
        );
        counter(
            &mut out,
            "ami_gateway_publish_retries_total",
            "Publishes sent again.",
            &|n| n.publish_retries.load(Relaxed),
        );
        counter(
            &mut out,
            "ami_gateway_publishes_abandoned_total",
            "Unacknowledged publishes given up when the lease could not be renewed.",
            &|n| n.publishes_abandoned.load(Relaxed),
        );
        counter(
            &mut out,
            "ami_gateway_leases_acquired_total",
            "Times this gateway took the node.",
            &|n| n.leases_acquired.load(Relaxed),
        );
        counter(
            &mut out,
            "ami_gateway_actions_served_total",
            "Requests answered with a completion.",
            &|n| n.actions_ok.load(Relaxed),
        );
        counter(
            &mut out,
            "ami_gateway_actions_failed_total",
            "Requests answered with an error.",
            &|n| n.actions_failed.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP ami_gateway_publish_latency_seconds Time from publish to JetStream ack.\n\
             # TYPE ami_gateway_publish_latency_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".to_owned()])
            .enumerate()
        {
            cumulative += self.latency[i].load(Relaxed);
            let _ = writeln!(
                out,
                "ami_gateway_publish_latency_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "ami_gateway_publish_latency_seconds_sum {}\nami_gateway_publish_latency_seconds_count {cumulative}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        out
    }
}

/// One metric with a line per node.
fn series(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    nodes: &[(String, NodeMetrics)],
    get: &dyn Fn(&NodeMetrics) -> u64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (server, m) in nodes {
        // Server names are subject tokens: nothing to escape in a label.
        let _ = writeln!(out, "{name}{{server=\"{server}\"}} {}", get(m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series_per_node() {
        let m = Metrics::new(["a".to_owned(), "b".to_owned()]);
        m.node(1).events_out.fetch_add(3, Relaxed);
        m.observe_latency(Duration::from_millis(2));
        let text = m.render();
        assert!(
            text.contains("ami_gateway_events_out_total{server=\"b\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("ami_gateway_events_out_total{server=\"a\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("ami_gateway_publish_latency_seconds_bucket{le=\"0.0025\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ami_gateway_publish_latency_seconds_bucket{le=\"0.001\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("ami_gateway_publish_latency_seconds_count 1"),
            "{text}"
        );
    }
}
