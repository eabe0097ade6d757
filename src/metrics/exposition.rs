//! The fleet snapshot as OpenMetrics text: a few series per node, the sync groups, the
//! fleet counts and verdict, one fleet-wide latency histogram and the push receiver.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::registry::{Registry, Unit};

use crate::model::{GroupHealth, ListenStats, Status};
use crate::state::{LATENCY_BUCKETS, LatencyHistogram, NodeView, Snapshot};

/// Bytes one node takes in the exposition (about 300 with ten-character names); saves
/// re-growing a large buffer.
const BYTES_PER_NODE: usize = 400;

/// Renders the whole exposition (OpenMetrics text, see [`super::CONTENT_TYPE`]) from
/// `snap`; `now` (the scrape's time) is the reference for the seconds-since gauges,
/// since the hub republishes a snapshot only when something changed.
pub fn render(snap: &Arc<Snapshot>, now: SystemTime) -> Result<String, fmt::Error> {
    // A sharded instance labels every series with its shard (`shard="2/4"`), so
    // one Prometheus can tell N instances' series apart by a label of the
    // monitor's own rather than by a scrape target's name. Unsharded, no label:
    // a single instance's series stay what they were.
    let mut registry = match snap.shard {
        Some(shard) => Registry::with_labels(std::iter::once((
            Cow::Borrowed("shard"),
            Cow::Owned(shard.label()),
        ))),
        None => Registry::default(),
    };
    // A collector per render: every value comes from the snapshot, and series of
    // nodes that are gone cannot linger. The collector must own its data, which the
    // `Arc` makes a reference count rather than a copy of every node.
    registry.register_collector(Box::new(Exposition {
        snap: Arc::clone(snap),
        now,
    }));
    let mut out = String::with_capacity(4096 + snap.nodes.len() * BYTES_PER_NODE);
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

#[derive(Debug)]
struct Exposition {
    snap: Arc<Snapshot>,
    now: SystemTime,
}

// Counter families are named without `_total` below: the OpenMetrics encoder appends
// it to the samples, which gives the exported names `..._total`.
impl Collector for Exposition {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let enc = &mut enc;
        self.node_families(enc)?;
        self.group_families(enc)?;
        self.fleet_families(enc)?;
        if self.snap.has_listener {
            self.listener_families(enc)?;
        }
        if let Some(shard) = self.snap.shard {
            shard_count(enc, shard)?;
        }
        build_info(enc)
    }
}

/// The `node` label, the only one on the per-node series but the status: every
/// extra label is repeated on each series of 10,000 nodes.
fn node_label(n: &NodeView) -> [(&str, &str); 1] {
    [("node", n.name())]
}

impl Exposition {
    /// Five series per node by default (status with group and role, healthy,
    /// seconds since the last valid reply, transitions, last latency), plus the
    /// opt-in latency histogram.
    fn node_families(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let nodes = &self.snap.nodes;
        node_status(enc, nodes)?;
        node_gauge(
            enc,
            "syncguard_node_healthy",
            "1 when the node's status is synced, else 0.",
            None,
            nodes,
            |n| Some(i64::from(n.status.is_healthy())),
        )?;
        node_gauge(
            enc,
            "syncguard_node_reply_age",
            "Seconds since the node's last valid reply; absent if it never gave one.",
            Some(&Unit::Seconds),
            nodes,
            |n| n.last_reply_at.map(|t| seconds_since(t, self.now)),
        )?;
        node_transitions(enc, nodes)?;
        node_gauge(
            enc,
            "syncguard_node_latency",
            "Latency of the node's last result when it was a valid polled reply.",
            Some(&Unit::Seconds),
            nodes,
            |n| n.latency().map(micros),
        )?;
        // Present only for nodes in that state, so a 10,000-node fleet does not
        // get two more series per node; a rule leaves them out with
        // `unless on(node) (syncguard_node_maintenance or syncguard_node_acknowledged)`.
        node_gauge(
            enc,
            "syncguard_node_maintenance",
            "1 while the node is in a [[maintenance]] window; absent otherwise.",
            None,
            nodes,
            |n| n.maintenance.is_some().then_some(1i64),
        )?;
        node_gauge(
            enc,
            "syncguard_node_acknowledged",
            "1 while an acknowledgement covers the node; absent otherwise.",
            None,
            nodes,
            |n| n.ack.is_some().then_some(1i64),
        )?;
        node_histograms(enc, nodes)
    }

    fn group_families(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let groups = &self.snap.groups;
        let mut family = enc.encode_descriptor(
            "syncguard_group_healthy",
            "1 when the sync group is healthy, 0 when unhealthy or still pending.",
            None,
            MetricType::Gauge,
        )?;
        for g in groups {
            family
                .encode_family(&[("group", &*g.name)])?
                .encode_gauge(&i64::from(g.health == GroupHealth::Healthy))?;
        }
        // Only groups whose members report roles have a Master to count; absent
        // rather than 0 elsewhere, so a rule needs no second series to tell them
        // apart (`syncguard_group_masters != 1`).
        let mut family = enc.encode_descriptor(
            "syncguard_group_masters",
            "Healthy members of the sync group whose role is Master; only for groups \
             whose members report roles.",
            None,
            MetricType::Gauge,
        )?;
        for g in groups.iter().filter(|g| g.has_roles) {
            let masters = i64::try_from(g.masters).unwrap_or(i64::MAX);
            family
                .encode_family(&[("group", &*g.name)])?
                .encode_gauge(&masters)?;
        }
        Ok(())
    }

    fn fleet_families(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let snap = &self.snap;
        let mut family = enc.encode_descriptor(
            "syncguard_nodes",
            "Nodes per status.",
            None,
            MetricType::Gauge,
        )?;
        for s in Status::ALL {
            family
                .encode_family(&[("status", s.as_str())])?
                .encode_gauge(&snap.counts.get(s))?;
        }
        single_gauge(
            enc,
            "syncguard_nodes_in_maintenance",
            "Nodes in a [[maintenance]] window: left out of the verdict and of notifications.",
            snap.in_maintenance() as i64,
        )?;
        single_gauge(
            enc,
            "syncguard_nodes_acknowledged",
            "Unhealthy nodes covered by an acknowledgement.",
            snap.acknowledged() as i64,
        )?;
        single_gauge(
            enc,
            "syncguard_verdict",
            "The fleet's verdict as its Nagios exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            i64::from(snap.verdict.exit_code()),
        )?;
        let family = enc.encode_descriptor(
            "syncguard_reply_latency",
            "Time from the start of an exchange to the complete valid reply, all poll nodes.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        encode_latency(family, &snap.latency)?;
        single_counter(
            enc,
            "syncguard_hook_runs_dropped",
            "Alert-hook runs dropped because their queue was full; polling never waits for hooks.",
            snap.hook_runs_dropped,
        )?;
        // The history store's families exist only while it is on.
        if let Some(h) = &snap.history {
            single_counter(
                enc,
                "syncguard_history_written",
                "Transitions written to the history store.",
                h.written,
            )?;
            single_counter(
                enc,
                "syncguard_history_dropped",
                "History records lost because the store could not keep up or write (disk full, read-only, ...).",
                h.dropped,
            )?;
            single_gauge(
                enc,
                "syncguard_history_write_ok",
                "1 while the history store writes, 0 while writes fail and are retried.",
                u64::from(h.problem.is_none()),
            )?;
        }
        if !snap.notify.is_empty() {
            self.notify_families(enc)?;
        }
        Ok(())
    }

    /// `[[notify]]` channels: deliveries by result, and what waits.
    fn notify_families(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let channels = &self.snap.notify;
        single_counter(
            enc,
            "syncguard_notify_dropped",
            "Changes the notifier's queue had no room for (the router far behind); polling never waits for it.",
            self.snap.notify_dropped,
        )?;
        let mut family = enc.encode_descriptor(
            "syncguard_notifications",
            "Notification delivery attempts by channel and result: delivered, failed (will be retried), given_up.",
            None,
            MetricType::Counter,
        )?;
        for c in channels {
            for (result, n) in [
                ("delivered", c.delivered),
                ("failed", c.failed),
                ("given_up", c.given_up),
            ] {
                ConstCounter::new(n).encode(
                    family.encode_family(&[("channel", c.name.as_str()), ("result", result)])?,
                )?;
            }
        }
        let mut family = enc.encode_descriptor(
            "syncguard_notify_queue_depth",
            "Notifications stored and not yet delivered or given up, per channel.",
            None,
            MetricType::Gauge,
        )?;
        for c in channels {
            family
                .encode_family(&[("channel", c.name.as_str())])?
                .encode_gauge(&(c.queue_depth as i64))?;
        }
        let mut family = enc.encode_descriptor(
            "syncguard_notify_oldest_pending",
            "Age of the oldest notification waiting for delivery, per channel; 0 when none waits.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        let now = crate::store::ms(self.now);
        for c in channels {
            let age = c
                .oldest_pending_ms
                .map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
            family
                .encode_family(&[("channel", c.name.as_str())])?
                .encode_gauge(&age)?;
        }
        Ok(())
    }

    /// The push receiver (`[listen]`): its connections and counters.
    fn listener_families(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let snap = &self.snap;
        let stats = &snap.listen;
        single_gauge(
            enc,
            "syncguard_push_connections",
            "Open push connections.",
            snap.connections.len(),
        )?;
        single_gauge(
            enc,
            "syncguard_unlisted_senders",
            "Remembered push senders that match no configured node.",
            snap.unlisted.len(),
        )?;
        for (name, help, value) in [
            (
                "syncguard_push_accepted",
                "Push connections accepted.",
                stats.accepted,
            ),
            (
                "syncguard_push_lines",
                "Lines received from push connections, valid or not.",
                stats.lines,
            ),
            (
                "syncguard_push_invalid_lines",
                "Lines from push connections that are not SyncGuard lines.",
                stats.invalid_lines,
            ),
            (
                "syncguard_push_closed_abuse",
                "Push connections closed for too many invalid lines, an overlong line or idling.",
                stats.closed_abuse,
            ),
            (
                "syncguard_unlisted_dropped",
                "Unlisted senders not remembered because the cap was reached.",
                stats.unlisted_dropped,
            ),
        ] {
            single_counter(enc, name, help, value)?;
        }
        push_refused(enc, stats)
    }
}

/// Push connections refused, by reason.
fn push_refused(enc: &mut DescriptorEncoder, stats: &ListenStats) -> fmt::Result {
    let mut family = enc.encode_descriptor(
        "syncguard_push_refused",
        "Push connections refused: over max_connections (full), unlisted senders \
         with allow_unlisted = false (unlisted), outside allow_from (address).",
        None,
        MetricType::Counter,
    )?;
    for (reason, n) in [
        ("full", stats.rejected_full),
        ("unlisted", stats.rejected_unlisted),
        ("address", stats.rejected_address),
    ] {
        ConstCounter::new(n).encode(family.encode_family(&[("reason", reason)])?)?;
    }
    Ok(())
}

/// The status as an enum with only the current state present: one series per node,
/// always 1, whose `status` label names it. Rules stay readable (`status="free"`)
/// and need no lookup of a numeric code; the price is a new series when a node
/// changes status, which is rare next to the scrapes (all seven states, as an
/// OpenMetrics stateset, would be seven series per node). Being always 1, it also
/// carries the node's `group` (absent for a node in none) and `role` (Master,
/// Slave, Error, Unknown; absent after a `Synced`/`Free` reply or before any), the
/// one series to join on for them
/// (`* on (instance, node) group_left (group) syncguard_node_status`), so the other
/// per-node series need only `node`. A role as a label costs a few bytes on a series
/// that exists anyway; as its own gauge it cost a series per node. The mode (poll
/// or push) is left out: it is in the config, and every label costs bytes on each
/// of 10,000 series.
fn node_status(enc: &mut DescriptorEncoder, nodes: &[NodeView]) -> fmt::Result {
    let mut family = enc.encode_descriptor(
        "syncguard_node_status",
        "Always 1; the status label is the node's current status. Also labelled with \
         the node's sync group and the role of its last reply.",
        None,
        MetricType::Gauge,
    )?;
    for n in nodes {
        // An empty label is the same as none to Prometheus; leaving it out saves its
        // bytes on every node without a group or a role.
        let mut labels = [("node", n.name()); 4];
        let mut len = 1;
        if let Some(group) = n.group() {
            labels[len] = ("group", group);
            len += 1;
        }
        labels[len] = ("status", n.status.as_str());
        len += 1;
        if let Some(role) = n.role() {
            labels[len] = ("role", role.as_str());
            len += 1;
        }
        family.encode_family(&&labels[..len])?.encode_gauge(&1i64)?;
    }
    Ok(())
}

fn node_transitions(enc: &mut DescriptorEncoder, nodes: &[NodeView]) -> fmt::Result {
    let mut family = enc.encode_descriptor(
        "syncguard_node_transitions",
        "Status changes of the node after its first answer.",
        None,
        MetricType::Counter,
    )?;
    for n in nodes {
        ConstCounter::new(n.transitions).encode(family.encode_family(&node_label(n))?)?;
    }
    Ok(())
}

/// `[metrics] per_node_histograms`: 16 series per node, so off by default.
fn node_histograms(enc: &mut DescriptorEncoder, nodes: &[NodeView]) -> fmt::Result {
    if nodes.iter().all(|n| n.latency_histogram.is_none()) {
        return Ok(());
    }
    let mut family = enc.encode_descriptor(
        "syncguard_node_reply_latency",
        "Time from the start of an exchange to the complete valid reply.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for n in nodes {
        if let Some(h) = &n.latency_histogram {
            encode_latency(family.encode_family(&node_label(n))?, h)?;
        }
    }
    Ok(())
}

/// One histogram. [`LatencyHistogram`] counts per bucket; the encoder sums them into
/// the cumulative `le` buckets.
fn encode_latency(mut metric: MetricEncoder, h: &LatencyHistogram) -> fmt::Result {
    let mut buckets = [(f64::INFINITY, h.over); LATENCY_BUCKETS.len() + 1];
    for (slot, (bound, count)) in buckets
        .iter_mut()
        .zip(LATENCY_BUCKETS.iter().zip(h.buckets))
    {
        *slot = (*bound, count);
    }
    metric.encode_histogram::<NoLabelSet>(
        h.sum_seconds,
        h.count,
        &buckets,
        None::<&HashMap<usize, Exemplar<NoLabelSet, f64>>>,
    )
}

/// One gauge family with a series per node labelled `node`; `None` leaves the
/// node's series out.
fn node_gauge<V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    nodes: &[NodeView],
    value: impl Fn(&NodeView) -> Option<V>,
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for n in nodes {
        if let Some(v) = value(n) {
            family.encode_family(&node_label(n))?.encode_gauge(&v)?;
        }
    }
    Ok(())
}

/// A gauge without labels.
fn single_gauge<V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&value)
}

/// A counter without labels.
fn single_counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    ConstCounter::new(value).encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)
}

/// `syncguard_shard_count`: how many instances the fleet is split across, from
/// each of them (its `shard` label, like every series', says which one it is).
/// A number rather than an info series' label, so a rule can compare it with how
/// many instances answer: `max(syncguard_shard_count) - count(syncguard_shard_count) > 0`
/// fires when a shard's instance is missing, even one Prometheus was never told to
/// scrape.
fn shard_count(enc: &mut DescriptorEncoder, shard: crate::model::Shard) -> fmt::Result {
    single_gauge(
        enc,
        "syncguard_shard_count",
        "The number of shards (instances) the fleet is split across; only on a sharded \
         instance, whose shard the shard label names.",
        i64::from(shard.count),
    )
}

fn build_info(enc: &mut DescriptorEncoder) -> fmt::Result {
    enc.encode_descriptor(
        "syncguard_build_info",
        "Always 1; the version label says which build is running.",
        None,
        MetricType::Gauge,
    )?
    .encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?
    .encode_gauge(&1i64)
}

/// Seconds from `t` to `now` in milliseconds, as few digits as that takes; a time
/// after `now` (clock stepped back) counts as just now.
fn seconds_since(t: SystemTime, now: SystemTime) -> f64 {
    let d = now.duration_since(t).unwrap_or_default();
    millis(d)
}

fn millis(d: Duration) -> f64 {
    // Whole milliseconds print short ("2.512", not "2.512345678").
    (d.as_millis() as f64) / 1e3
}

fn micros(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1e6
}
