//! Prometheus metrics: the fleet state rendered as OpenMetrics text by its owner, and
//! a tiny `/metrics` HTTP server that hands each scrape to that owner over a channel.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::config::{Mode, NodeConfig};
use crate::fleet::{Fleet, NodeId};
use crate::group::GroupHealth;
use crate::model::{Status, StatusCounts};

/// The content type of [`Metrics::render`]'s output. prometheus-client encodes only
/// the OpenMetrics 1.0 text format (counters as `<name>_total`, a final `# EOF`), and
/// Prometheus picks its parser by this header, so it must announce OpenMetrics rather
/// than the classic `text/plain; version=0.0.4`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a scrape waits for the owner of the fleet state before answering 503.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Upper bounds of `syncguard_node_reply_latency_seconds`: a LAN reply takes well
/// under a millisecond, a struggling node seconds (the default deadline is 5 s).
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Open scrape connections at most; Prometheus needs one or two, anything beyond
/// that is closed at once rather than allowed to pile up tasks.
const MAX_CONNECTIONS: usize = 64;

/// A client that has not sent its request head within this is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A scrape waiting for the owner of the fleet state to render the metrics.
#[derive(Debug)]
pub struct Scrape {
    reply: oneshot::Sender<String>,
}

impl Scrape {
    /// Sends the exposition back to the waiting HTTP request.
    pub fn answer(self, body: String) {
        // The request may be gone (timed out, client hung up): nobody left to tell.
        let _ = self.reply.send(body);
    }
}

/// Serves `GET /metrics` on `listener`. Each request becomes a [`Scrape`] sent on
/// `tx` and is answered with what the owner sends back, as [`CONTENT_TYPE`]; if the
/// owner does not answer within [`SCRAPE_TIMEOUT`] (or dropped the scrape, or is
/// gone) the answer is 503. Any other path is 404, another method on `/metrics` 405.
/// Runs until dropped or aborted, which also ends its open connections.
pub async fn serve(listener: TcpListener, tx: mpsc::Sender<Scrape>) {
    serve_with(listener, tx, SCRAPE_TIMEOUT).await;
}

/// [`serve`] with the owner's deadline as a parameter, so tests need not wait 5 s.
async fn serve_with(listener: TcpListener, tx: mpsc::Sender<Scrape>, timeout: Duration) {
    // Connection tasks live in the set, so dropping `serve` aborts them as well.
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            // Reap finished connections so the set does not grow.
            Some(_) = conns.join_next() => continue,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if conns.len() >= MAX_CONNECTIONS {
            tracing::debug!("metrics: {MAX_CONNECTIONS} connections open, closing a new one");
            continue;
        }
        let tx = tx.clone();
        conns.spawn(async move {
            let service = service_fn(move |req| respond(req, tx.clone(), timeout));
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!("metrics: connection ended: {e}");
            }
        });
    }
}

async fn respond(
    req: Request<Incoming>,
    tx: mpsc::Sender<Scrape>,
    timeout: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/metrics" {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n",
        ));
    }
    if req.method() != Method::GET {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return Ok(r);
    }
    let (reply, answer) = oneshot::channel();
    // One deadline for both steps: a full channel (owner busy) counts against it too.
    let body = tokio::time::timeout(timeout, async {
        tx.send(Scrape { reply }).await.ok()?;
        answer.await.ok()
    })
    .await
    .ok()
    .flatten();
    Ok(match body {
        Some(body) => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            r
        }
        None => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the monitor did not render the metrics in time\n",
        ),
    })
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Per-node metrics that need history (the reply latency histogram), owned by the
/// fleet's owner next to the [`Fleet`]. Everything else is read from the fleet when
/// rendering. Holds one histogram per poll node and no strings: labels are taken
/// from the fleet's shared node configs at render time.
#[derive(Debug)]
pub struct Metrics {
    /// Indexed by [`NodeId`]. Push nodes have none: a pushed line is not an exchange
    /// that could be timed, and 16 always-zero series per push node would only cost
    /// Prometheus memory. One is made should a latency be observed for one anyway.
    latency: Vec<Option<Histogram>>,
}

impl Metrics {
    pub fn new(fleet: &Fleet) -> Metrics {
        let mut m = Metrics {
            latency: Vec::new(),
        };
        m.fit(fleet);
        m
    }

    /// Called by the owner for every applied poll result that was a valid reply,
    /// with that reply's latency ([`crate::fleet::Observation::latency`]).
    pub fn observe_latency(&mut self, fleet: &Fleet, node: NodeId, latency: Duration) {
        self.fit(fleet);
        if let Some(slot) = self.latency.get_mut(node) {
            slot.get_or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
                .observe(latency.as_secs_f64());
        }
    }

    /// Renders the whole exposition (OpenMetrics text, see [`CONTENT_TYPE`]) from the
    /// fleet's current state; `now` is the reference for the seconds-since gauges.
    pub fn render(&mut self, fleet: &Fleet, now: SystemTime) -> String {
        self.fit(fleet);
        let mut registry = Registry::default();
        // A collector built per render: gauges and counters come from the state as
        // it is now, and series of nodes that are gone cannot linger.
        registry.register_collector(Box::new(Snapshot::take(fleet, &self.latency, now)));
        // Roughly what a node takes (27 lines); saves re-growing a large buffer.
        let mut out = String::with_capacity(4096 + fleet.nodes.len() * 2560);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            // Writing into a String does not fail; the encoder rejected something.
            // The text lacks `# EOF` then, so Prometheus rejects the scrape visibly.
            tracing::error!("metrics: encoding failed: {e}");
        }
        out
    }

    /// Keeps a slot per node, should the fleet have been rebuilt with another size.
    /// (A rebuilt fleet with other nodes needs a new `Metrics`.)
    /// After a config reload: kept nodes keep their latency histograms under their
    /// new ids (`kept[new_id]` is the old id); new and changed nodes start empty.
    pub fn reload(&mut self, fleet: &Fleet, kept: &[Option<NodeId>]) {
        let mut old = std::mem::take(&mut self.latency);
        self.latency = kept
            .iter()
            .map(|k| k.and_then(|old_id| old.get_mut(old_id).and_then(Option::take)))
            .collect();
        // Fill in new poll nodes the same way `new` does.
        for (i, n) in fleet.nodes.iter().enumerate() {
            if self.latency.get(i).is_some_and(Option::is_none) && n.mode() == Mode::Poll {
                self.latency[i] = Some(Histogram::new(LATENCY_BUCKETS));
            }
        }
    }

    fn fit(&mut self, fleet: &Fleet) {
        let have = self.latency.len();
        if have > fleet.nodes.len() {
            self.latency.truncate(fleet.nodes.len());
        }
        for n in fleet.nodes.iter().skip(have) {
            // Poll nodes get their (zero) histogram at once, so the series exist
            // before the first reply and `rate()` sees that reply too.
            let h = (n.mode() == Mode::Poll).then(|| Histogram::new(LATENCY_BUCKETS));
            self.latency.push(h);
        }
    }
}

/// The fleet as one render sees it; a [`Collector`] must own its data ('static).
#[derive(Debug)]
struct Snapshot {
    nodes: Vec<NodeRow>,
    groups: Vec<GroupRow>,
    counts: StatusCounts,
    push_connections: usize,
    push_lines: u64,
    unlisted: usize,
}

#[derive(Debug)]
struct NodeRow {
    /// Shared with the fleet, so labels cost no copy of the name.
    config: Arc<NodeConfig>,
    status: Status,
    /// `state<d>` of the last reply, -1 for `Synced`/`Free` or no reply.
    code: i64,
    seconds_since_reply: Option<f64>,
    transitions: u64,
    /// A handle on the persistent histogram (an `Arc` inside).
    latency: Option<Histogram>,
}

impl NodeRow {
    fn labels(&self) -> [(&str, &str); 3] {
        [
            ("node", self.config.name.as_str()),
            ("group", self.config.group.as_deref().unwrap_or("")),
            ("mode", self.config.mode.as_str()),
        ]
    }
}

#[derive(Debug)]
struct GroupRow {
    name: String,
    healthy: bool,
    masters: usize,
    has_roles: bool,
}

impl Snapshot {
    fn take(fleet: &Fleet, latency: &[Option<Histogram>], now: SystemTime) -> Snapshot {
        let nodes = fleet
            .nodes
            .iter()
            .zip(latency)
            .map(|(n, h)| NodeRow {
                config: Arc::clone(&n.config),
                status: n.status,
                code: n.code().map_or(-1, i64::from),
                // A reply stamped after `now` (clock stepped back) counts as just now.
                seconds_since_reply: n
                    .last_reply_at
                    .map(|t| now.duration_since(t).unwrap_or_default().as_secs_f64()),
                transitions: n.transitions,
                latency: h.clone(),
            })
            .collect();
        let groups = fleet
            .groups()
            .iter()
            .map(|g| GroupRow {
                name: g.name.clone(),
                healthy: g.health == GroupHealth::Healthy,
                masters: g.masters,
                has_roles: g.has_roles,
            })
            .collect();
        Snapshot {
            nodes,
            groups,
            counts: *fleet.counts(),
            push_connections: fleet.connections.len(),
            push_lines: fleet.listen_stats.lines,
            unlisted: fleet.unlisted.len(),
        }
    }
}

/// One gauge family with a series per node; `None` leaves the node's series out.
fn node_gauge<V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    nodes: &[NodeRow],
    value: impl Fn(&NodeRow) -> Option<V>,
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for n in nodes {
        if let Some(v) = value(n) {
            family.encode_family(&n.labels())?.encode_gauge(&v)?;
        }
    }
    Ok(())
}

/// One gauge family with a series per group.
fn group_gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    groups: &[GroupRow],
    value: impl Fn(&GroupRow) -> i64,
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for g in groups {
        family
            .encode_family(&[("group", g.name.as_str())])?
            .encode_gauge(&value(g))?;
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

impl Collector for Snapshot {
    // Counter families are named without `_total`: the OpenMetrics encoder appends it
    // to the samples, which gives the exported names `..._total`.
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let enc = &mut enc;
        node_gauge(
            enc,
            "syncguard_node_healthy",
            "1 when the node's status is synced, else 0.",
            &self.nodes,
            |n| Some(i64::from(n.status.is_healthy())),
        )?;
        {
            let mut family = enc.encode_descriptor(
                "syncguard_node_status",
                "1 for the node's current status, 0 for the others.",
                None,
                MetricType::Gauge,
            )?;
            for n in &self.nodes {
                let [node, group, mode] = n.labels();
                for s in Status::ALL {
                    family
                        .encode_family(&[node, group, mode, ("status", s.as_str())])?
                        .encode_gauge(&i64::from(n.status == s))?;
                }
            }
        }
        node_gauge(
            enc,
            "syncguard_node_role_code",
            "The state<d> code of the node's last reply; -1 for Synced/Free or no reply.",
            &self.nodes,
            |n| Some(n.code),
        )?;
        node_gauge(
            enc,
            "syncguard_node_seconds_since_valid_reply",
            "Seconds since the node's last valid reply; absent if it never gave one.",
            &self.nodes,
            |n| n.seconds_since_reply,
        )?;
        {
            let mut family = enc.encode_descriptor(
                "syncguard_node_reply_latency",
                "Time from the start of an exchange to the complete valid reply.",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            for n in &self.nodes {
                if let Some(h) = &n.latency {
                    h.encode(family.encode_family(&n.labels())?)?;
                }
            }
        }
        {
            let mut family = enc.encode_descriptor(
                "syncguard_node_transitions",
                "Status changes of the node after its first answer.",
                None,
                MetricType::Counter,
            )?;
            for n in &self.nodes {
                ConstCounter::new(n.transitions).encode(family.encode_family(&n.labels())?)?;
            }
        }
        group_gauge(
            enc,
            "syncguard_group_healthy",
            "1 when the sync group is healthy, 0 when unhealthy or still pending.",
            &self.groups,
            |g| i64::from(g.healthy),
        )?;
        group_gauge(
            enc,
            "syncguard_group_masters",
            "Healthy members of the sync group whose role is Master.",
            &self.groups,
            |g| i64::try_from(g.masters).unwrap_or(i64::MAX),
        )?;
        group_gauge(
            enc,
            "syncguard_group_has_roles",
            "1 when a member of the sync group reported a role code.",
            &self.groups,
            |g| i64::from(g.has_roles),
        )?;
        {
            let mut family = enc.encode_descriptor(
                "syncguard_nodes",
                "Nodes per status.",
                None,
                MetricType::Gauge,
            )?;
            for s in Status::ALL {
                family
                    .encode_family(&[("status", s.as_str())])?
                    .encode_gauge(&self.counts.get(s))?;
            }
        }
        single_gauge(
            enc,
            "syncguard_push_connections",
            "Open push connections.",
            self.push_connections,
        )?;
        ConstCounter::new(self.push_lines).encode(enc.encode_descriptor(
            "syncguard_push_lines",
            "Lines received from push connections, valid or not.",
            None,
            MetricType::Counter,
        )?)?;
        single_gauge(
            enc,
            "syncguard_unlisted_senders",
            "Remembered push senders that match no configured node.",
            self.unlisted,
        )?;
        enc.encode_descriptor(
            "syncguard_build_info",
            "Always 1; the version label says which build is running.",
            None,
            MetricType::Gauge,
        )?
        .encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?
        .encode_gauge(&1i64)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::net::{Ipv4Addr, SocketAddr};
    use std::process::{Command, Stdio};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::config::Config;
    use crate::fleet::{Observation, Outcome, TimeoutPhase};
    use crate::protocol::{PushLine, Reply, ReportedIp};

    const CONFIG: &str = r#"
[[node]]
name = "wall-01"
host = "127.0.0.1"
group = "wall"
[[node]]
name = "wall-02"
host = "127.0.0.2"
group = "wall"
[[node]]
name = "desk"
host = "127.0.0.3"
[[node]]
name = "tv"
host = "127.0.0.4"
group = "tv"
[[node]]
name = "led-01"
host = "10.0.0.7"
mode = "push"
group = "led"
[[node]]
name = "led-02"
host = "10.0.0.8"
mode = "push"
group = "led"
[[node]]
name = "spare"
host = "127.0.0.5"
group = "cold"
"#;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn state(ip: [u8; 4], code: u8) -> Outcome {
        Outcome::Reply(Reply::State {
            reported: ReportedIp::V4(Ipv4Addr::from(ip)),
            code,
        })
    }

    /// Applies a poll result and, for a valid reply, its latency, as the owner does.
    fn poll(fleet: &mut Fleet, metrics: &mut Metrics, node: &str, secs: u64, outcome: Outcome) {
        let id = fleet
            .nodes
            .iter()
            .position(|n| n.name() == node)
            .expect("node in config");
        let latency = outcome.reply().map(|_| Duration::from_millis(3));
        fleet.apply(
            id,
            Observation {
                at: at(secs),
                outcome,
                latency,
            },
            true,
        );
        if let Some(l) = latency {
            metrics.observe_latency(fleet, id, l);
        }
    }

    /// The fleet of [`CONFIG`] after a few results: wall-01 Master and wall-02 Slave
    /// (after a timeout in between), desk Free, tv timed out, led-01/02 pushed Master
    /// and Slave, spare still pending, and one unlisted sender.
    fn scenario() -> (Fleet, Metrics) {
        let cfg = Config::parse(CONFIG, "t.toml").expect("config");
        let mut fleet = Fleet::new(&cfg, at(0));
        let mut m = Metrics::new(&fleet);
        poll(&mut fleet, &mut m, "wall-01", 1, state([127, 0, 0, 1], 2));
        poll(&mut fleet, &mut m, "wall-02", 1, state([127, 0, 0, 2], 1));
        let timeout = Outcome::Timeout {
            phase: TimeoutPhase::Reply,
            after: Duration::from_secs(5),
        };
        poll(&mut fleet, &mut m, "wall-02", 2, timeout.clone());
        poll(&mut fleet, &mut m, "wall-02", 3, state([127, 0, 0, 2], 1));
        poll(&mut fleet, &mut m, "desk", 1, Outcome::Reply(Reply::Free));
        poll(&mut fleet, &mut m, "tv", 1, timeout);
        // wall-01 answers slowly once more: 40 ms.
        let wall01 = 0;
        m.observe_latency(&fleet, wall01, Duration::from_millis(40));
        let peer = SocketAddr::from(([10, 0, 0, 7], 40000));
        fleet.conn_opened(1, peer, at(1));
        for (ip, code) in [([10, 0, 0, 7], 2), ([10, 0, 0, 8], 1), ([10, 9, 9, 9], 1)] {
            let line = PushLine {
                reported: ReportedIp::V4(Ipv4Addr::from(ip)),
                code,
            };
            fleet.push_line(1, peer, at(4), Ok(line));
        }
        (fleet, m)
    }

    /// The value of the one sample named `name` whose labels contain every string
    /// in `labels`; panics unless exactly one matches.
    fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
        let found: Vec<f64> = samples(text, name, labels);
        assert_eq!(
            found.len(),
            1,
            "{name} with {labels:?}: {} samples\n{text}",
            found.len()
        );
        found[0]
    }

    fn samples(text: &str, name: &str, labels: &[&str]) -> Vec<f64> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                // The value follows the last space; label values may hold spaces.
                let (series, value) = l.rsplit_once(' ')?;
                let (n, rest) = match series.split_once('{') {
                    Some((n, rest)) => (n, rest),
                    None => (series, ""),
                };
                (n == name && labels.iter().all(|want| rest.contains(want)))
                    .then(|| value.parse::<f64>().expect("numeric value"))
            })
            .collect()
    }

    #[test]
    fn renders_the_fleet_state() {
        let (fleet, mut m) = scenario();
        let text = m.render(&fleet, at(100));
        assert!(text.ends_with("# EOF\n"), "{text}");

        let desk = r#"node="desk",group="",mode="poll""#;
        assert_eq!(sample(&text, "syncguard_node_healthy", &[desk]), 0.0);
        assert_eq!(
            sample(&text, "syncguard_node_status", &[desk, r#"status="free""#]),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                "syncguard_node_status",
                &[desk, r#"status="synced""#]
            ),
            0.0
        );
        // Exactly one status series is 1 for each node, and all seven exist.
        for n in &fleet.nodes {
            let node = format!("node=\"{}\",", n.name());
            let all = samples(&text, "syncguard_node_status", &[&node]);
            assert_eq!(all.len(), Status::ALL.len(), "{node}");
            assert_eq!(all.iter().sum::<f64>(), 1.0, "{node}");
            let mine = format!("status=\"{}\"", n.status.as_str());
            assert_eq!(sample(&text, "syncguard_node_status", &[&node, &mine]), 1.0);
        }
        let wall01 = r#"node="wall-01",group="wall",mode="poll""#;
        let wall02 = r#"node="wall-02",group="wall",mode="poll""#;
        let led01 = r#"node="led-01",group="led",mode="push""#;
        assert_eq!(sample(&text, "syncguard_node_healthy", &[wall01]), 1.0);
        assert_eq!(sample(&text, "syncguard_node_healthy", &[led01]), 1.0);
        let tv = r#"node="tv",group="tv",mode="poll""#;
        assert_eq!(
            sample(&text, "syncguard_node_status", &[tv, r#"status="timeout""#]),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                "syncguard_node_status",
                &[r#"node="spare""#, r#"status="pending""#]
            ),
            1.0
        );

        let role = |labels: &str| sample(&text, "syncguard_node_role_code", &[labels]);
        assert_eq!(role(wall01), 2.0);
        assert_eq!(role(wall02), 1.0);
        assert_eq!(role(led01), 2.0);
        assert_eq!(role(r#"node="led-02""#), 1.0);
        assert_eq!(role(desk), -1.0, "Free carries no role code");
        assert_eq!(role(tv), -1.0, "no reply");
        assert_eq!(role(r#"node="spare""#), -1.0, "no reply");

        let since = "syncguard_node_seconds_since_valid_reply";
        assert_eq!(sample(&text, since, &[desk]), 99.0);
        assert_eq!(sample(&text, since, &[wall02]), 97.0);
        assert_eq!(sample(&text, since, &[led01]), 96.0);
        assert!(samples(&text, since, &[tv]).is_empty(), "never replied");
        assert!(samples(&text, since, &[r#"node="spare""#]).is_empty());

        let lat = "syncguard_node_reply_latency_seconds";
        assert_eq!(sample(&text, &format!("{lat}_count"), &[wall01]), 2.0);
        let sum = sample(&text, &format!("{lat}_sum"), &[wall01]);
        assert!((sum - 0.043).abs() < 1e-9, "{sum}");
        let bucket = format!("{lat}_bucket");
        assert_eq!(sample(&text, &bucket, &[wall01, r#"le="0.0025""#]), 0.0);
        assert_eq!(sample(&text, &bucket, &[wall01, r#"le="0.005""#]), 1.0);
        assert_eq!(sample(&text, &bucket, &[wall01, r#"le="0.05""#]), 2.0);
        assert_eq!(sample(&text, &bucket, &[wall01, r#"le="+Inf""#]), 2.0);
        assert_eq!(
            samples(&text, &bucket, &[wall01]).len(),
            LATENCY_BUCKETS.len() + 1
        );
        assert_eq!(sample(&text, &format!("{lat}_count"), &[wall02]), 2.0);
        assert_eq!(sample(&text, &format!("{lat}_count"), &[desk]), 1.0);
        assert_eq!(
            sample(&text, &format!("{lat}_count"), &[tv]),
            0.0,
            "poll node"
        );
        assert!(
            samples(&text, &format!("{lat}_count"), &[led01]).is_empty(),
            "push nodes have no latency"
        );

        let transitions = "syncguard_node_transitions_total";
        assert_eq!(sample(&text, transitions, &[wall02]), 2.0);
        assert_eq!(sample(&text, transitions, &[wall01]), 0.0);

        let group = |name: &str, g: &str| sample(&text, name, &[&format!("group=\"{g}\"")]);
        assert_eq!(group("syncguard_group_healthy", "wall"), 1.0);
        assert_eq!(group("syncguard_group_healthy", "led"), 1.0);
        assert_eq!(group("syncguard_group_healthy", "tv"), 0.0);
        assert_eq!(group("syncguard_group_healthy", "cold"), 0.0, "pending");
        assert_eq!(group("syncguard_group_masters", "wall"), 1.0);
        assert_eq!(group("syncguard_group_masters", "tv"), 0.0);
        assert_eq!(group("syncguard_group_has_roles", "led"), 1.0);
        assert_eq!(group("syncguard_group_has_roles", "tv"), 0.0);

        let nodes = |s: &str| sample(&text, "syncguard_nodes", &[&format!("status=\"{s}\"")]);
        assert_eq!(nodes("synced"), 4.0);
        assert_eq!(nodes("free"), 1.0);
        assert_eq!(nodes("timeout"), 1.0);
        assert_eq!(nodes("pending"), 1.0);
        assert_eq!(nodes("stale"), 0.0);
        assert_eq!(samples(&text, "syncguard_nodes", &[]).len(), 7);

        assert_eq!(sample(&text, "syncguard_push_connections", &[]), 1.0);
        assert_eq!(sample(&text, "syncguard_push_lines_total", &[]), 3.0);
        assert_eq!(sample(&text, "syncguard_unlisted_senders", &[]), 1.0);
        let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
        assert_eq!(sample(&text, "syncguard_build_info", &[&version]), 1.0);

        // Gauges follow the state; the histogram keeps what it saw.
        let mut fleet = fleet;
        poll(&mut fleet, &mut m, "desk", 150, state([127, 0, 0, 3], 1));
        // A latency for a push node is kept all the same.
        let led02 = 5;
        assert_eq!(fleet.nodes[led02].name(), "led-02");
        m.observe_latency(&fleet, led02, Duration::from_millis(1));
        let text = m.render(&fleet, at(200));
        assert_eq!(sample(&text, "syncguard_node_healthy", &[desk]), 1.0);
        assert_eq!(sample(&text, since, &[desk]), 50.0);
        assert_eq!(sample(&text, transitions, &[desk]), 1.0);
        assert_eq!(sample(&text, &format!("{lat}_count"), &[wall01]), 2.0);
        assert_eq!(sample(&text, &format!("{lat}_count"), &[desk]), 2.0);
        let led02 = r#"node="led-02",group="led",mode="push""#;
        assert_eq!(sample(&text, &format!("{lat}_count"), &[led02]), 1.0);
        assert!(samples(&text, &format!("{lat}_count"), &[led01]).is_empty());
    }

    /// Runs `script` with the exposition on stdin and returns what it prints as
    /// JSON. The interpreter is `SYNCGUARD_TEST_PYTHON` (.ci/run's virtual
    /// environment), else `python3`. Without `prometheus_client` the check fails
    /// under CI, and elsewhere prints one `SKIPPED:` line (past the harness's
    /// capture, for .ci/run to count) and returns `None`.
    fn python(test: &str, text: &str, script: &str) -> Option<serde_json::Value> {
        let python = std::env::var_os("SYNCGUARD_TEST_PYTHON")
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "python3".into());
        let probe = Command::new(&python)
            .args(["-c", "import prometheus_client"])
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            let why = "python prometheus_client not installed";
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(
                !ci,
                "{test}: {why}; under CI this must run (.ci/run installs it)"
            );
            let _ = writeln!(std::io::stderr(), "SKIPPED: {test} ({why})");
            return None;
        }
        let mut child = Command::new(&python)
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write exposition");
        let out = child.wait_with_output().expect("python finishes");
        assert!(
            out.status.success(),
            "the parser rejected the exposition: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(serde_json::from_slice(&out.stdout).expect("JSON from python"))
    }

    /// Both of prometheus_client's parsers: the OpenMetrics one (strict, for the
    /// format we announce) and the classic text one.
    const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families as classic
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
text = sys.stdin.read()
out = {"families": {}, "samples": [], "classic": [], "nodes": [], "classic_nodes": []}
for f in om(text):
    out["families"][f.name] = f.type
    for s in f.samples:
        out["samples"].append(s.name)
        if s.name == "syncguard_node_healthy":
            out["nodes"].append([s.labels["node"], s.labels["group"]])
for f in classic(text):
    for s in f.samples:
        out["classic"].append(s.name)
        if s.name == "syncguard_node_healthy":
            out["classic_nodes"].append([s.labels["node"], s.labels["group"]])
print(json.dumps(out))
"#;

    #[test]
    fn a_real_parser_accepts_the_exposition() {
        let (fleet, mut m) = scenario();
        let text = m.render(&fleet, at(100));
        let Some(parsed) = python(
            "metrics::tests::a_real_parser_accepts_the_exposition",
            &text,
            PARSE,
        ) else {
            return;
        };
        let families = &parsed["families"];
        for (name, kind) in [
            ("syncguard_node_healthy", "gauge"),
            ("syncguard_node_status", "gauge"),
            ("syncguard_node_role_code", "gauge"),
            ("syncguard_node_seconds_since_valid_reply", "gauge"),
            ("syncguard_node_reply_latency_seconds", "histogram"),
            ("syncguard_node_transitions", "counter"),
            ("syncguard_group_healthy", "gauge"),
            ("syncguard_group_masters", "gauge"),
            ("syncguard_group_has_roles", "gauge"),
            ("syncguard_nodes", "gauge"),
            ("syncguard_push_connections", "gauge"),
            ("syncguard_push_lines", "counter"),
            ("syncguard_unlisted_senders", "gauge"),
            ("syncguard_build_info", "gauge"),
        ] {
            assert_eq!(families[name], kind, "family {name} in {families}");
        }
        for key in ["samples", "classic"] {
            let names: Vec<&str> = parsed[key]
                .as_array()
                .expect("sample names")
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            for name in [
                "syncguard_node_healthy",
                "syncguard_node_status",
                "syncguard_node_role_code",
                "syncguard_node_seconds_since_valid_reply",
                "syncguard_node_reply_latency_seconds_bucket",
                "syncguard_node_reply_latency_seconds_count",
                "syncguard_node_reply_latency_seconds_sum",
                "syncguard_node_transitions_total",
                "syncguard_group_healthy",
                "syncguard_group_masters",
                "syncguard_group_has_roles",
                "syncguard_nodes",
                "syncguard_push_connections",
                "syncguard_push_lines_total",
                "syncguard_unlisted_senders",
                "syncguard_build_info",
            ] {
                assert!(names.contains(&name), "{key} parser: no {name} sample");
            }
        }
    }

    #[test]
    fn odd_node_names_survive_the_round_trip() {
        // TOML escapes: a quote, a backslash, combining and zero-width characters, and
        // (the config allows it) a newline.
        let cfg = Config::parse(
            r#"
[[node]]
name = "wall \"7\" \\ 東京 🎬 e\u0301\u200B end"
host = "127.0.0.1"
group = "g\"1\\"
[[node]]
name = "two\nlines"
host = "127.0.0.2"
"#,
            "t.toml",
        )
        .expect("config");
        let odd = "wall \"7\" \\ 東京 🎬 e\u{301}\u{200b} end";
        let two = "two\nlines";
        assert_eq!(cfg.nodes[0].name, odd);
        assert_eq!(cfg.nodes[1].name, two);
        let fleet = Fleet::new(&cfg, at(0));
        let text = Metrics::new(&fleet).render(&fleet, at(1));
        assert!(
            text.contains(
                "syncguard_node_healthy{node=\"wall \\\"7\\\" \\\\ 東京 🎬 e\u{301}\u{200b} end\",\
                 group=\"g\\\"1\\\\\",mode=\"poll\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "syncguard_node_healthy{node=\"two\\nlines\",group=\"\",mode=\"poll\"} 0\n"
            ),
            "{text}"
        );
        let Some(parsed) = python(
            "metrics::tests::odd_node_names_survive_the_round_trip",
            &text,
            PARSE,
        ) else {
            return;
        };
        let expected = serde_json::json!([[odd, "g\"1\\"], [two, ""]]);
        assert_eq!(parsed["nodes"], expected);
        assert_eq!(parsed["classic_nodes"], expected);
    }

    /// A raw HTTP/1.1 GET on loopback; returns status, head and body.
    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let exchange = async {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.expect("send request");
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.expect("read response");
            buf
        };
        let buf = tokio::time::timeout(Duration::from_secs(20), exchange)
            .await
            .expect("response within 20 s");
        let text = String::from_utf8(buf).expect("UTF-8 response");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    async fn start(timeout: Duration) -> (SocketAddr, mpsc::Receiver<Scrape>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(serve_with(listener, tx, timeout));
        (addr, rx)
    }

    #[tokio::test]
    async fn serves_what_the_owner_renders() {
        let (addr, mut scrapes) = start(SCRAPE_TIMEOUT).await;
        tokio::spawn(async move {
            while let Some(s) = scrapes.recv().await {
                s.answer("fake_metric 1\n# EOF\n".to_owned());
            }
        });
        let (status, head, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200, "{head}");
        assert!(
            head.contains(
                "content-type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"
            ),
            "{head}"
        );
        assert_eq!(body, "fake_metric 1\n# EOF\n");
        let (status, _, _) = get(addr, "/other").await;
        assert_eq!(status, 404);
        let (status, _, _) = get(addr, "/metrics/").await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn an_unanswered_scrape_is_503() {
        // The owner drops the scrape: the answer comes at once, without the timeout.
        let (addr, mut scrapes) = start(Duration::from_secs(60)).await;
        tokio::spawn(async move {
            while let Some(s) = scrapes.recv().await {
                drop(s);
            }
        });
        let (status, _, body) = get(addr, "/metrics").await;
        assert_eq!(status, 503, "{body}");

        // The owner keeps the scrape and never answers: 503 after the timeout.
        let (addr, mut scrapes) = start(Duration::from_millis(300)).await;
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(s) = scrapes.recv().await {
                held.push(s);
            }
        });
        let (status, _, _) = get(addr, "/metrics").await;
        assert_eq!(status, 503);

        // No owner at all.
        let (addr, scrapes) = start(Duration::from_secs(60)).await;
        drop(scrapes);
        let (status, _, _) = get(addr, "/metrics").await;
        assert_eq!(status, 503);
    }
}
