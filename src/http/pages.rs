//! The HTML pages, rendered complete on the server with maud (every interpolated
//! value is escaped by construction): the fleet page, one node, and the wall. The
//! script in `assets/app.js` only patches what these render.

use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::Web;
use super::auth::{SignIn, sign_in};
use super::view::{self, Quiet, Tile};
use crate::model::Status;
use crate::present;
use crate::state::{NodeView, Snapshot};

/// Fleets up to this size list every node; larger ones list the unhealthy and
/// the members of unhealthy groups, and fold healthy groups into their tiles.
pub const ALL_ROWS: usize = 1000;
/// Rows rendered at most in one page (the rest: narrow the filter).
pub const MAX_ROWS: usize = 2000;
/// Without the script, the page refreshes itself this often (seconds).
const NOSCRIPT_REFRESH: u32 = 10;
/// What the ack form offers for how long, first the default
/// ([`crate::model::ack::DEFAULT_FOR`]).
const ACK_FOR: [&str; 6] = ["24h", "1h", "4h", "8h", "3d", "7d"];

const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Embedded in the binary: a new version is a restart, and the page is
    // reloaded then anyway. A short cache still spares a wall's reloads.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// `/`'s query: how the node table is sorted and filtered (the script does the
/// same in place; these make it work without the script too).
#[derive(Default, serde::Deserialize)]
pub struct FleetQuery {
    sort: Option<String>,
    q: Option<String>,
    group: Option<String>,
    all: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Status,
    Name,
    Group,
    Since,
    Latency,
}

impl SortKey {
    const ALL: [(SortKey, &'static str, &'static str); 5] = [
        (SortKey::Name, "name", "Node"),
        (SortKey::Group, "group", "Group"),
        (SortKey::Status, "status", "Status"),
        (SortKey::Since, "since", "Since"),
        (SortKey::Latency, "latency", "Latency"),
    ];

    fn parse(s: Option<&str>) -> SortKey {
        SortKey::ALL
            .iter()
            .find(|(_, word, _)| Some(*word) == s)
            .map_or(SortKey::Status, |(k, _, _)| *k)
    }
}

fn sort_nodes(nodes: &mut [&NodeView], key: SortKey) {
    nodes.sort_by(|a, b| {
        let by = match key {
            SortKey::Status => present::severity(a.status).cmp(&present::severity(b.status)),
            SortKey::Name => std::cmp::Ordering::Equal,
            SortKey::Group => a.group().cmp(&b.group()),
            // Newest change first.
            SortKey::Since => b.since.cmp(&a.since),
            // Slowest first; no latency last.
            SortKey::Latency => b.latency().cmp(&a.latency()),
        };
        by.then_with(|| a.name().cmp(b.name()))
    });
}

/// Whether a node matches the filter text: its name, group, status or error.
fn matches(n: &NodeView, q: &str) -> bool {
    let q = q.to_lowercase();
    n.name().to_lowercase().contains(&q)
        || n.group().is_some_and(|g| g.to_lowercase().contains(&q))
        || n.status.as_str().contains(&q)
        || n.error().is_some_and(|e| e.to_lowercase().contains(&q))
}

pub async fn fleet(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(query): Query<FleetQuery>,
) -> Response {
    let fresh = web.snapshot().await;
    let (snap, event_id) = (fresh.snap, fresh.event_id.to_string());
    let source = web.source.clone();
    let acks = sign_in(&web, &headers);
    render(move || fleet_page(&snap, &source, &event_id, &query, acks)).await
}

pub async fn wall(State(web): State<Web>) -> Response {
    let fresh = web.snapshot().await;
    let (snap, event_id) = (fresh.snap, fresh.event_id.to_string());
    let source = web.source.clone();
    render(move || wall_page(&snap, &source, &event_id)).await
}

pub async fn node(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let acks = sign_in(&web, &headers);
    let fresh = web.snapshot().await;
    let (snap, event_id) = (fresh.snap, fresh.event_id.to_string());
    let Some(n) = snap.node(&name).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            page(
                "not found",
                &web.source,
                "",
                "node",
                SignIn::Off,
                html! { main { h1 { "No node named " q { (present::name(&name)) } } p { a href="/" { "Back to the fleet" } } } },
            ),
        )
            .into_response();
    };
    let record = match web.history.clone() {
        None => Err("history off".to_owned()),
        Some(path) => {
            let name = name.clone();
            tokio::task::spawn_blocking(move || {
                let conn =
                    crate::store::schema::open_for_reading(&path).map_err(|e| e.to_string())?;
                crate::store::query::node_record(&conn, &name, crate::store::ms(SystemTime::now()))
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
        }
    };
    let source = web.source.clone();
    render(move || node_page(&snap, &n, &record, &source, &event_id, acks)).await
}

pub async fn not_found() -> Response {
    super::api::error(
        StatusCode::NOT_FOUND,
        "not found: the routes are /, /wall, /node/{name}, /api/v1/status, /api/v1/events, /api/v1/history, /api/v1/uptime, POST /api/v1/ack, DELETE /api/v1/ack/{target}, /metrics, /healthz",
    )
}

/// Renders on a blocking thread: a 10,000-node page is milliseconds of work.
async fn render(f: impl FnOnce() -> Markup + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(markup) => {
            let mut r = markup.into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => super::api::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the page could not be rendered: {e}"),
        ),
    }
}

/// The frame of every page: head, the lost-stream banner, the header with the
/// verdict and the alarm, then `body`; with acks, their form and answer line.
fn page(
    title: &str,
    source: &str,
    event_id: &str,
    kind: &str,
    acks: SignIn,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · syncguard-fleet" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
                // Without the script, the page still follows the fleet.
                noscript { meta http-equiv="refresh" content=(NOSCRIPT_REFRESH); }
            }
            body data-page=(kind) data-event-id=(event_id) data-statuses=(view::status_words()) data-source=(source) data-acks=(acks.as_str()) {
                div #stream-lost role="alert" hidden {
                    "Connection to the monitor lost; retrying. What you see may be out of date."
                }
                (body)
                @if acks != SignIn::Off && kind != "wall" { (ack_form()) }
            }
        }
    }
}

fn header(snap: &Snapshot, source: &str, current: &str) -> Markup {
    html! {
        header.top {
            div.brand {
                a href="/" { "syncguard-fleet" }
                span.source { (present::name(source)) }
            }
            div #verdict data-verdict=(snap.verdict.as_str()) data-unhealthy=(view::unhealthy_nodes(snap)) data-alarming=(snap.alarming()) {
                (view::headline(snap))
            }
            nav {
                @for (href, label) in [("/", "Fleet"), ("/wall", "Wall"), ("/api/v1/status", "JSON")] {
                    @if href == current { a href=(href) aria-current="page" { (label) } }
                    @else { a href=(href) { (label) } }
                }
            }
            div #alarm data-alarm="off" hidden {
                button #alarm-arm type="button" title="Sound a tone while a node or group is unhealthy and nobody has acknowledged it (this browser only)" { "Arm alarm" }
                button #alarm-silence type="button" hidden { "Silence" }
            }
        }
    }
}

/// A tile: on the wall alone, on the fleet page with its ack buttons below it
/// (a button cannot sit inside the tile's link).
fn tile(t: &Tile, big: bool, acks: SignIn) -> Markup {
    let href = match &t.group {
        Some(g) => format!("/?group={}", utf8_percent_encode(g, NON_ALPHANUMERIC)),
        None => "/#nodes".to_owned(),
    };
    let q = &t.quiet;
    let link = html! {
        a.tile.big[big] href=(href) data-group=(t.group.as_deref().unwrap_or("")) data-status=(t.status.as_str()) data-health=(t.health) data-rank=(t.rank) data-maintenance=[q.maintenance.as_deref()] data-acked=[q.acked.as_deref()] {
            span.tile-name { (t.label()) }
            span.tile-status { (present::status_word(t.status)) }
            span.tile-count { (t.in_lock) "/" (t.members) " in lock" }
            span.tile-problem { (t.problem.as_deref().unwrap_or("")) }
            span.tile-down { (t.down) }
            span.tile-quiet { (quiet_note(q)) }
        }
    };
    if big {
        return link;
    }
    html! {
        div.tile-cell {
            (link)
            div.tile-actions.quiet { (quiet_buttons(q, acks)) }
        }
    }
}

/// `⚒ maintenance: weekly` or `✓ acknowledged by …`, or nothing.
fn quiet_note(q: &Quiet) -> Markup {
    html! {
        @if !q.mark.is_empty() {
            span.quiet-mark { (q.mark) } " " span.quiet-text { (q.text) }
        }
    }
}

/// The acknowledge or unack button, when acks can be given here. Hidden by
/// the stylesheet until the page's script runs (they need it).
fn quiet_buttons(q: &Quiet, acks: SignIn) -> Markup {
    html! {
        @if acks != SignIn::Off {
            @if let Some(t) = &q.ack {
                button.ack type="button" data-ack=(t) title={ "Acknowledge " (t) ": say you know, and the alarm stops for it" } { "Acknowledge" }
            }
            @if let Some(t) = &q.acked {
                button.unack type="button" data-unack=(t) title={ "Remove the ack of " (t) } { "Unack" }
            }
        }
    }
}

/// A node's ack and maintenance cell: the note, then its button.
fn quiet_cell(q: &Quiet, acks: SignIn) -> Markup {
    html! {
        (quiet_note(q))
        @let buttons = quiet_buttons(q, acks);
        @if !buttons.0.is_empty() { " " (buttons) }
    }
}

/// The form the acknowledge buttons open (a `<dialog>`), and the line that
/// shows the answer. The script drives both.
fn ack_form() -> Markup {
    use crate::model::ack::MAX_REASON;
    html! {
        dialog #ack-dialog aria-labelledby="ack-title" {
            form #ack-form method="dialog" {
                h2 #ack-title { "Acknowledge " span #ack-target {} }
                p.hint { "Says you know about it: the alarm stops for it, and the page shows who acknowledged it and why until it recovers, gets worse or the time runs out." }
                label { "Reason " input #ack-reason name="reason" required maxlength=(MAX_REASON) autocomplete="off" placeholder="re-imaging, cable swapped, …"; }
                label { "For " input #ack-for name="for" value=(ACK_FOR[0]) list="ack-durations" size="8" autocomplete="off"; }
                datalist #ack-durations { @for d in ACK_FOR { option value=(d) {} } }
                label { "Your name " input #ack-user name="user" maxlength=(super::ack::MAX_USER) autocomplete="name" placeholder="optional"; }
                p #ack-error.problem role="alert" hidden {}
                div.buttons {
                    button #ack-submit type="submit" { "Acknowledge" }
                    " "
                    button #ack-cancel type="button" { "Cancel" }
                }
            }
        }
        div #ack-result role="status" hidden {}
        p #ack-signin hidden {
            "To acknowledge, sign in first: open this page once as /?token=<token>, with the token from [http] token_env or token_file; this browser then keeps it in a cookie."
        }
    }
}

fn node_href(name: &str) -> String {
    format!("/node/{}", utf8_percent_encode(name, NON_ALPHANUMERIC))
}

/// How long ago, as the page shows it (its script ticks the same format on).
fn age(since: SystemTime, now: SystemTime) -> String {
    let ms = now.duration_since(since).unwrap_or_default().as_millis();
    present::short_duration(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// One row of the node table, from the same cells the `summary` event carries.
fn row(n: &NodeView, now: SystemTime, acks: SignIn) -> Markup {
    let c = view::Cells::new(n);
    let q = &c.quiet;
    html! {
        tr data-node=(c.node) data-status=(c.status.as_str()) data-group=(c.group.as_deref().unwrap_or("")) data-maintenance=[q.maintenance.as_deref()] data-acked=[q.acked.as_deref()] {
            td.name { a href=(node_href(&c.node)) { (present::name(&c.node)) } span.flap title="flapping" hidden[!c.flapping] { " " (present::FLAPPING) } }
            td.group { (c.group.as_deref().map(present::name).unwrap_or_default()) }
            td.status { (c.status_word) }
            td.role { (c.role) }
            td.since data-since=(c.since) { (age(n.since, now)) }
            td.latency data-us=(c.latency_us) { (c.latency) }
            td.error { (c.error) }
            td.ack.quiet { (quiet_cell(q, acks)) }
        }
    }
}

fn fleet_page(
    snap: &Snapshot,
    source: &str,
    event_id: &str,
    query: &FleetQuery,
    acks: SignIn,
) -> Markup {
    let now = SystemTime::now();
    let sort = SortKey::parse(query.sort.as_deref());
    let filter = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let group = query.group.as_deref();
    let show_all = query.all.is_some() || filter.is_some() || group.is_some();
    let bad_groups: std::collections::HashSet<&str> = snap
        .groups
        .iter()
        .filter(|g| g.health != crate::model::GroupHealth::Healthy)
        .map(|g| &*g.name)
        .collect();
    let mut listed: Vec<&NodeView> = snap
        .nodes
        .iter()
        .filter(|n| group.is_none_or(|g| n.group() == Some(g)))
        .filter(|n| filter.is_none_or(|q| matches(n, q)))
        .collect();
    let matching = listed.len();
    // A large fleet folds its healthy groups: their tiles say all there is.
    let folded = !show_all && snap.nodes.len() > ALL_ROWS;
    if folded {
        listed.retain(|n| {
            n.status != Status::Synced || n.group().is_some_and(|g| bad_groups.contains(g))
        });
    }
    let folded_out = matching - listed.len();
    sort_nodes(&mut listed, sort);
    let hidden = listed.len().saturating_sub(MAX_ROWS);
    listed.truncate(MAX_ROWS);
    let tiles = view::tiles(snap);
    let body = html! {
        (header(snap, source, "/"))
        main {
            section #groups aria-label="Sync groups" {
                @for t in &tiles { (tile(t, false, acks)) }
            }
            p #counts { (present::summary_line(&snap.counts)) }
            section #nodes aria-label="Nodes" {
                form.filter method="get" action="/" {
                    input #filter type="search" name="q" value=(filter.unwrap_or("")) placeholder="Filter: name, group, status, error" aria-label="Filter nodes";
                    @if let Some(g) = group { input type="hidden" name="group" value=(g); }
                    input type="hidden" name="sort" value=(SortKey::ALL.iter().find(|(k, _, _)| *k == sort).map_or("status", |(_, w, _)| w));
                    button type="submit" { "Filter" }
                    @if let Some(g) = group { " " span.chip { "group " (present::name(g)) " " a href="/" { "×" } } }
                }
                table #node-table data-folded=(folded) data-only-group=[group] {
                    thead { tr {
                        @for (key, word, label) in SortKey::ALL {
                            th data-sort=(word) aria-sort=(if key == sort { "ascending" } else { "none" }) {
                                a href=(format!("/?sort={word}{}{}", filter.map(|q| format!("&q={}", utf8_percent_encode(q, NON_ALPHANUMERIC))).unwrap_or_default(), group.map(|g| format!("&group={}", utf8_percent_encode(g, NON_ALPHANUMERIC))).unwrap_or_default())) { (label) }
                            }
                            @if word == "status" { th data-sort="role" { "Role / code" } }
                        }
                        th { "Error" }
                        th { "Ack / maintenance" }
                    } }
                    tbody {
                        @for n in &listed { (row(n, now, acks)) }
                    }
                }
                @if listed.is_empty() {
                    p.empty { @if matching == 0 { "No node matches." } @else { "Every node is in lock." } }
                }
                @if folded {
                    p #folded {
                        (folded_out) " nodes in lock in healthy groups are folded into their tiles. "
                        a href="/?all=1" { "List every node" }
                    }
                }
                @if hidden > 0 {
                    p.more { (hidden) " more nodes not listed; narrow the filter." }
                }
            }
        }
        @if !snap.unlisted.is_empty() {
            section #unlisted aria-label="Unlisted senders" {
                h2 { "Unlisted senders" }
                p.empty { "SyncGuard V3 nodes pushing to this monitor that are in no [[node]] list. As of the page's load." }
                table #unlisted-table {
                    thead { tr { th { "Reported IP" } th { "Peer" } th { "Status" } th { "Role / code" } th { "Last seen" } th { "Lines" } } }
                    tbody {
                        @for u in &snap.unlisted {
                            tr data-unlisted=(u.reported_ip.to_string()) data-status=(u.status.as_str()) {
                                td { (u.reported_ip.to_string()) }
                                td { (u.peer.to_string()) }
                                td.status { (present::status_word(u.status)) }
                                td { (present::role_code_of(u.role(), u.code)) }
                                td { span data-since=(present::rfc3339(u.last_seen)) { (age(u.last_seen, now)) } " ago" }
                                td { (u.lines) }
                            }
                        }
                    }
                }
            }
        }
        footer { "Live: " span #live-state { "page rendered " (present::local_time(now)) } " · " a href="/metrics" { "metrics" } " · " a href="/healthz" { "health" } }
    };
    page("Fleet", source, event_id, "fleet", acks, body)
}

fn wall_page(snap: &Snapshot, source: &str, event_id: &str) -> Markup {
    let mut tiles = view::tiles(snap);
    view::worst_first(&mut tiles);
    // Columns and rows so that every tile fits a 16:9 screen without scrolling.
    let n = tiles.len().max(1);
    let cols = ((n as f64 * 16.0 / 9.0).sqrt().ceil() as usize)
        .clamp(1, 12)
        .min(n);
    let rows = n.div_ceil(cols);
    let body = html! {
        div.wall-top {
            div #verdict data-verdict=(snap.verdict.as_str()) data-unhealthy=(view::unhealthy_nodes(snap)) data-alarming=(snap.alarming()) { (view::headline(snap)) }
            div #alarm data-alarm="off" hidden {
                button #alarm-arm type="button" { "Arm alarm" }
                button #alarm-silence type="button" hidden { "Silence" }
            }
        }
        main #groups.wall data-cols=(cols.min(12)) data-rows=(rows.min(12)) aria-label="Sync groups, worst first" {
            @for t in &tiles { (tile(t, true, SignIn::Off)) }
        }
    };
    page("Wall", source, event_id, "wall", SignIn::Off, body)
}

fn node_page(
    snap: &Snapshot,
    n: &NodeView,
    record: &Result<crate::store::query::NodeRecord, String>,
    source: &str,
    event_id: &str,
    acks: SignIn,
) -> Markup {
    let now = SystemTime::now();
    let field = |label: &str, value: Markup| html! { tr { th { (label) } td { (value) } } };
    let q = Quiet::node(n);
    let body = html! {
        (header(snap, source, ""))
        main.node {
            h1 { (present::name(n.name())) }
            table.detail data-node=(n.name()) data-status=(n.status.as_str()) data-maintenance=[q.maintenance.as_deref()] data-acked=[q.acked.as_deref()] {
                (field("Status", html! { span.status { (present::status_word(n.status)) } }))
                (field("Since", html! { span.since data-since=(present::rfc3339(n.since)) { (age(n.since, now)) } " (" (present::rfc3339(n.since)) ")" }))
                (field("Group", html! { (n.group().map(present::name).unwrap_or_else(|| "none".into())) }))
                (field("Address", html! { (n.config.address()) }))
                (field("Reply", html! { span.reply { (present::reply_text(n)) } }))
                (field("Role / code", html! { span.role { (present::role_code(n)) } }))
                (field("Latency", html! { (n.latency().map(present::format_latency).unwrap_or_default()) }))
                (field("Error", html! { span.error { (n.error().unwrap_or_default()) } }))
                @if let Some(note) = present::silent_connects_note(n) { (field("Note", html! { (note) })) }
                @if n.flapping { (field("Flapping", html! { (n.flaps) " changes within " (present::format_age(snap.flap_window)) })) }
                tr { th { "Ack / maintenance" } td.ack.quiet { (quiet_cell(&q, acks)) } }
            }
            h2 { "Record" }
            @match record {
                Err(e) => p.record-off { (e) }
                Ok(r) => {
                    table.shares {
                        tr { th {} @for (span, _) in &r.shares { th { (span) } } }
                        tr { th { "In lock" } @for (_, sh) in &r.shares { td { (present::in_lock_percent(sh)) } } }
                    }
                    @if r.incidents.is_empty() { p { "No incidents in 30 days." } }
                    @else {
                        table.incidents {
                            thead { tr { th { "Started" } th { "Length" } th { "Statuses" } th { "First" } } }
                            tbody {
                                @for i in &r.incidents {
                                    tr {
                                        td { (present::rfc3339(crate::store::read::time(i.start))) }
                                        td { (present::short_duration(i.duration(crate::store::ms(now)))) @if i.end.is_none() { " (open)" } }
                                        td { (i.statuses.join(", ")) }
                                        td { (present::incident_cause(i.first_reply.as_deref(), i.first_error.as_deref())) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/" { "Back to the fleet" } }
        }
    };
    page(n.name(), source, event_id, "node", acks, body)
}
