//! Dashboard snapshots through ratatui's TestBackend at 80×24 and 160×48. The
//! render is a pure function of state and clock, so these are exact.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use syncguard_fleet::config::Config;
use syncguard_fleet::model::{IoFailure, Observation, Outcome, Target, TimeoutPhase, Unreachable};
use syncguard_fleet::protocol::{Decode, InvalidReply, Reply, ReportedIp, decode_reply};
use syncguard_fleet::state::{AckRequest, Fleet};
use syncguard_fleet::store::query::NodeRecord;
use syncguard_fleet::store::timeline::{Incident, Shares};
use syncguard_fleet::ui::{self, Action, Overlay, Screen, View};

const START: u64 = 1_782_469_800; // 2026-06-26 10:30:00 UTC

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(START + secs)
}

fn config() -> Config {
    Config::parse(&config_text(), "fleet.toml").expect("fixture config")
}

/// The fixture's nodes: (name, host, group). Results are applied by position here.
const NODES: [(&str, &str, &str); 10] = [
    ("wall-01", "192.168.0.201", "wall-A"),
    ("wall-02", "192.168.0.202", "wall-A"),
    ("wall-03", "192.168.0.203", "wall-A"),
    ("wall-04", "192.168.0.204", "wall-A"),
    ("wall-05", "192.168.0.205", "wall-B"),
    ("wall-06", "192.168.0.206", "wall-B"),
    ("wall-07", "192.168.0.207", "wall-B"),
    ("stage-01", "render-s1.example", "stage"),
    ("stage-02", "render-s2.example", "stage"),
    ("stage-03", "192.168.1.13", "stage"),
];

fn name(i: usize) -> &'static str {
    NODES[i].0
}

fn config_text() -> String {
    let mut text = String::from("[defaults]\ntimeout = \"5s\"\n");
    for (name, host, group) in NODES {
        text.push_str(&format!(
            "[[node]]\nname = \"{name}\"\nhost = \"{host}\"\ngroup = \"{group}\"\n"
        ));
    }
    text
}

fn state(ip: [u8; 4], code: u8) -> Outcome {
    Outcome::Reply(Reply::State {
        reported: ReportedIp::V4(Ipv4Addr::from(ip)),
        code,
    })
}

fn obs(secs: u64, outcome: Outcome, latency_us: Option<u64>) -> Observation {
    Observation {
        at: at(secs),
        outcome,
        latency: latency_us.map(Duration::from_micros),
    }
}

/// Every node synced: masters and slaves on the walls, `Synced` on the stage.
fn all_synced() -> Fleet {
    let cfg = config();
    let mut f = Fleet::new(&cfg, at(0));
    for round in 0..3u64 {
        let t = 1 + round * 7;
        f.apply(
            name(0),
            obs(t, state([192, 168, 0, 201], 2), Some(412)),
            true,
        );
        for (i, last) in [(1, 202u8), (2, 203), (3, 204)] {
            f.apply(
                name(i),
                obs(t, state([192, 168, 0, last], 1), Some(380 + i as u64 * 40)),
                true,
            );
        }
        f.apply(
            name(4),
            obs(t, state([192, 168, 0, 205], 2), Some(1_250)),
            true,
        );
        f.apply(
            name(5),
            obs(t, state([192, 168, 0, 206], 1), Some(910)),
            true,
        );
        f.apply(
            name(6),
            obs(t, state([192, 168, 0, 207], 1), Some(15_300)),
            true,
        );
        for i in 7..10 {
            f.apply(
                name(i),
                obs(t, Outcome::Reply(Reply::Synced), Some(2_100 + i as u64)),
                true,
            );
        }
    }
    f
}

/// A mix of every failure: one node out of lock, one refusing, one silent, one
/// answering garbage; wall-07 dropped out of lock after being synced.
fn mixed() -> Fleet {
    let mut f = all_synced();
    f.apply(
        name(6),
        obs(30, Outcome::Reply(Reply::Free), Some(800)),
        true,
    );
    f.apply(
        name(2),
        obs(40, state([192, 168, 0, 203], 0), Some(520)),
        true,
    );
    f.apply(
        name(7),
        obs(
            45,
            Outcome::Unreachable(Unreachable::Connect(IoFailure::kind(
                std::io::ErrorKind::ConnectionRefused,
            ))),
            None,
        ),
        false,
    );
    f.apply(
        name(8),
        obs(
            50,
            Outcome::Timeout {
                phase: TimeoutPhase::Reply,
                after: Duration::from_secs(5),
            },
            None,
        ),
        false,
    );
    f.apply(
        name(9),
        obs(
            60,
            Outcome::Invalid(InvalidReply::Unexpected("NotSynced".into())),
            None,
        ),
        false,
    );
    f
}

/// What the history file would say of the detail popup's node: in lock most of
/// the time, one incident over and one open.
fn record() -> NodeRecord {
    let ms = |secs: u64| syncguard_fleet::store::ms(at(secs));
    let hour = 3_600_000;
    NodeRecord {
        shares: vec![
            (
                "24h",
                Shares {
                    in_lock: 23 * hour,
                    out_of_lock: hour / 2,
                    unknown: hour / 2,
                },
            ),
            (
                "7d",
                Shares {
                    in_lock: 167 * hour,
                    out_of_lock: hour / 2,
                    unknown: hour / 2,
                },
            ),
            ("30d", Shares::default()),
        ],
        incidents: vec![
            Incident {
                start: ms(140),
                end: None,
                statuses: vec!["free"],
                first_row: 0,
                first_reply: Some("Free".into()),
                first_error: None,
            },
            Incident {
                start: ms(10),
                end: Some(ms(40)),
                statuses: vec!["timeout", "free"],
                first_row: 0,
                first_reply: None,
                first_error: Some("no reply within 2s".into()),
            },
        ],
    }
}

fn draw(fleet: &Fleet, view: &mut View, width: u16, height: u16) -> Terminal<TestBackend> {
    draw_snap(fleet, &fleet.snapshot(at(200)), view, width, height)
}

fn draw_snap(
    fleet: &Fleet,
    snap: &syncguard_fleet::state::Snapshot,
    view: &mut View,
    width: u16,
    height: u16,
) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| {
            view.refresh_order(snap);
            view.scroll_into_view(ui::render::table_rows(frame.area(), snap));
            // The detail popup shows what the hub would answer for its node.
            let history: Vec<Observation> = match &view.overlay {
                Overlay::Detail(key) => fleet
                    .node(key.as_str())
                    .map(|n| n.history.iter().cloned().collect())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let screen = Screen {
                snap,
                history: &history,
                record: syncguard_fleet::ui::RecordView::Ready(&record()),
                view,
                source: "fleet.toml",
                now: at(200),
                tz: TimeZone::UTC,
                color: true,
            };
            ui::render(frame, &screen);
        })
        .expect("draw");
    terminal
}

fn both_sizes(name: &str, fleet: &Fleet, actions: &[Action]) {
    let snap = fleet.snapshot(at(200));
    for (w, h) in [(80, 24), (160, 48)] {
        let mut view = View::new(true);
        view.refresh_order(&snap);
        for a in actions {
            view.apply(*a);
            view.refresh_order(&snap);
        }
        let terminal = draw(fleet, &mut view, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

#[test]
fn before_first_poll() {
    let f = Fleet::new(&config(), at(0));
    both_sizes("pending", &f, &[]);
}

#[test]
fn all_nodes_synced() {
    both_sizes("all_synced", &all_synced(), &[]);
}

#[test]
fn mixed_failures_sort_first() {
    both_sizes("mixed", &mixed(), &[]);
}

#[test]
fn filter_active() {
    let actions = [
        Action::StartFilter,
        Action::FilterChar('s'),
        Action::FilterChar('t'),
        Action::FilterChar('a'),
        Action::FilterDone,
    ];
    both_sizes("filter", &mixed(), &actions);
}

#[test]
fn problems_only() {
    both_sizes("problems_only", &mixed(), &[Action::ToggleProblems]);
}

#[test]
fn help_overlay() {
    both_sizes("help", &mixed(), &[Action::ToggleHelp]);
}

#[test]
fn detail_popup() {
    // Under the default sort the first row is wall-03 (state0) and the second is
    // wall-07, which dropped out of lock after three good answers.
    both_sizes("detail", &mixed(), &[Action::ToggleDetail]);
    both_sizes(
        "detail_second_row",
        &mixed(),
        &[Action::Down, Action::ToggleDetail],
    );
}

/// Raw hostile input through the paths it really takes: reply bytes through the
/// poll decoder, and control characters in a node's name and group from the config
/// file (TOML `\u` escapes). Nothing is escaped here; the screen must show it all
/// escaped and hold no control character.
#[test]
fn untrusted_text_is_escaped_on_screen() {
    let text = format!(
        "{}[[node]]\nname = \"e\\u001b[2Jvil\"\nhost = \"192.168.0.250\"\ngroup = \"g\\u0007rp\"\n",
        config_text()
    );
    let cfg = Config::parse(&text, "fleet.toml").expect("hostile config");
    let evil_name = cfg.nodes[10].name.clone();
    assert_eq!(evil_name, "e\x1b[2Jvil", "the config keeps the raw name");
    let mut f = Fleet::new(&cfg, at(0));
    let Decode::Invalid(why) = decode_reply(b"\x1b[2J\x1b]0;owned\x07Synced\x08") else {
        panic!("hostile bytes decoded as a reply");
    };
    f.apply("e\x1b[2Jvil", obs(70, Outcome::Invalid(why), None), false);
    let mut view = View::new(true);
    let terminal = draw(&f, &mut view, 160, 48);
    let screen = terminal.backend().to_string();
    for shown in [
        "\\x1b[2J\\x1b]0;owned\\x07Synced\\x08",
        "e\\x1b[2Jvil",
        "g\\x07rp",
    ] {
        assert!(screen.contains(shown), "{shown} not on screen:\n{screen}");
    }
    for cell in terminal.backend().buffer().content() {
        assert!(
            !cell.symbol().chars().any(|c| c.is_control()),
            "raw control character on screen: {:?}",
            cell.symbol()
        );
    }
}

/// Poll nodes plus push nodes: one behind NAT (peer differs), one claimed by two
/// peers (conflict), and an unlisted sender.
fn with_push() -> Fleet {
    let mut text = String::from(
        "[listen]\nbind = [\"127.0.0.1:0\"]\nstale_after = \"30s\"\n\
         [[node]]\nname = \"wall-01\"\nhost = \"192.168.0.201\"\ngroup = \"wall-A\"\n",
    );
    for (name, ip) in [
        ("led-01", "10.1.0.1"),
        ("led-02", "10.1.0.2"),
        ("led-03", "10.1.0.3"),
    ] {
        text.push_str(&format!(
            "[[node]]\nname = \"{name}\"\nhost = \"{ip}\"\nmode = \"push\"\ngroup = \"led\"\n"
        ));
    }
    let cfg = Config::parse(&text, "fleet.toml").expect("push fixture");
    let mut f = Fleet::new(&cfg, at(0));
    f.apply(
        name(0),
        obs(1, state([192, 168, 0, 201], 2), Some(400)),
        true,
    );
    let peer = |s: &str| s.parse::<std::net::SocketAddr>().expect("peer");
    let line = |ip: [u8; 4], code| {
        Ok(syncguard_fleet::protocol::PushLine {
            reported: ReportedIp::V4(Ipv4Addr::from(ip)),
            code,
        })
    };
    f.conn_opened(1, peer("10.1.0.1:50001"), at(2));
    f.conn_opened(2, peer("172.16.5.9:40002"), at(2));
    f.conn_opened(3, peer("10.1.0.3:50003"), at(3));
    f.conn_opened(4, peer("10.9.9.9:50004"), at(150));
    f.conn_opened(5, peer("10.66.0.66:50005"), at(4));
    // Lines up to a few seconds before the snapshot's clock (200 s), so the two
    // peers of led-03 overlap within stale_after.
    for t in [185, 190, 195] {
        f.push_lines(1, peer("10.1.0.1:50001"), at(t), line([10, 1, 0, 1], 2), 1);
        // Behind NAT: the peer is not the IP the node writes.
        f.push_lines(
            2,
            peer("172.16.5.9:40002"),
            at(t),
            line([10, 1, 0, 2], 1),
            1,
        );
        f.push_lines(3, peer("10.1.0.3:50003"), at(t), line([10, 1, 0, 3], 1), 1);
        // A second machine claiming to be led-03, saying it is a master.
        f.push_lines(4, peer("10.9.9.9:50004"), at(t), line([10, 1, 0, 3], 2), 1);
        f.push_lines(
            5,
            peer("10.66.0.66:50005"),
            at(t),
            line([10, 66, 0, 66], 1),
            1,
        );
    }
    f
}

#[test]
fn push_nodes_unlisted_and_groups() {
    both_sizes("push", &with_push(), &[]);
}

#[test]
fn connections_page() {
    both_sizes("connections", &with_push(), &[Action::ToggleConnections]);
}

#[test]
fn push_detail_shows_peer_and_conflict() {
    // Sorted by name within synced: led-01, led-02, led-03.
    both_sizes(
        "push_detail_nat",
        &with_push(),
        &[Action::Down, Action::ToggleDetail],
    );
    both_sizes(
        "push_detail_conflict",
        &with_push(),
        &[Action::Down, Action::Down, Action::ToggleDetail],
    );
}

#[test]
fn a_failing_channel_is_named_in_the_footer() {
    use syncguard_fleet::model::notification::ChannelStatus;
    let fleet = mixed();
    let mut snap = fleet.snapshot(at(200));
    snap.notify = vec![
        ChannelStatus {
            name: "chat".into(),
            kind: "slack",
            delivered: 4,
            ..ChannelStatus::default()
        },
        ChannelStatus {
            name: "oncall".into(),
            kind: "alertmanager",
            failed: 7,
            queue_depth: 3,
            oldest_pending_ms: Some(1),
            problem: Some("http://am-1:9093/api/v2/alerts: HTTP 503\u{1b}[2J".into()),
            ..ChannelStatus::default()
        },
    ];
    let mut view = View::new(true);
    let terminal = draw_snap(&fleet, &snap, &mut view, 80, 24);
    let buffer = terminal.backend().buffer();
    let last: String = (0..80)
        .map(|x| buffer[(x, 23)].symbol().to_owned())
        .collect();
    assert!(
        last.starts_with(" ⚠ notify oncall (3 waiting): http://am-1:9093/api/v2/alerts: HTTP 503"),
        "{last:?}"
    );
    assert!(
        !last.contains('\u{1b}'),
        "escape reached the screen: {last:?}"
    );
    // Without a problem the footer is the key hints again.
    snap.notify[1].problem = None;
    let terminal = draw_snap(&fleet, &snap, &mut view, 80, 24);
    let buffer = terminal.backend().buffer();
    let last: String = (0..80)
        .map(|x| buffer[(x, 23)].symbol().to_owned())
        .collect();
    assert!(last.starts_with(" q quit"), "{last:?}");
}

/// `mixed()`, quieted: wall-03 (out of lock) acknowledged by alice, wall-B (through
/// wall-07) acknowledged as a group by bob, and stage-02 (timeout) in the
/// maintenance window `weekly-reboots`.
fn quiet() -> Fleet {
    let mut f = mixed();
    f.set_maintenance(
        |node, _| (node == name(8)).then(|| Arc::from("weekly-reboots")),
        |_| None,
        at(70),
    );
    let ack = |target, by: &str, reason: &str, hours: u64| AckRequest {
        id: format!("{by}-1"),
        target,
        by: by.into(),
        reason: reason.into(),
        lasts: Duration::from_secs(hours * 3600),
    };
    f.ack(
        ack(
            Target::Node(name(2).into()),
            "alice",
            "re-imaging the render node",
            2,
        ),
        at(100),
    )
    .expect("ack wall-03");
    f.ack(
        ack(
            Target::Group("wall-B".into()),
            "bob",
            "genlock cable swap",
            24,
        ),
        at(110),
    )
    .expect("ack wall-B");
    f
}

/// Draws `fleet` after `actions`, applied as the dashboard applies them (`a` and
/// `A` look at the snapshot), at each size.
fn quiet_sizes(label: &str, fleet: &Fleet, actions: &[Action], sizes: &[(u16, u16)]) {
    let snap = fleet.snapshot(at(200));
    for (w, h) in sizes {
        let mut view = View::new(true);
        view.refresh_order(&snap);
        for a in actions {
            view.handle(*a, &snap);
            view.refresh_order(&snap);
        }
        let terminal = draw(fleet, &mut view, *w, *h);
        insta::assert_snapshot!(format!("{label}_{w}x{h}"), terminal.backend());
    }
}

fn typed(text: &str) -> Vec<Action> {
    text.chars().map(Action::Type).collect()
}

const SMALL: &[(u16, u16)] = &[(80, 24)];
const BOTH: &[(u16, u16)] = &[(80, 24), (160, 48)];

#[test]
fn acknowledged_and_maintenance_nodes_are_marked() {
    // Rows: wall-03 ✓, wall-07 ✓ (its group's ack), stage-01, stage-02 ⚒ (dimmed).
    quiet_sizes("quiet", &quiet(), &[], BOTH);
    let snap = quiet().snapshot(at(200));
    let mut view = View::new(true);
    let terminal = draw_snap(&quiet(), &snap, &mut view, 80, 24);
    let buffer = terminal.backend().buffer();
    let row = |y: u16| -> (String, Vec<ratatui::style::Modifier>) {
        let text = (0..80)
            .map(|x| buffer[(x, y)].symbol().to_owned())
            .collect();
        let mods = (0..80).map(|x| buffer[(x, y)].modifier).collect();
        (text, mods)
    };
    let (stage02, mods) = (4..14)
        .map(row)
        .find(|(t, _)| t.contains("stage-02"))
        .expect("stage-02 row");
    assert!(stage02.contains("⚒"), "{stage02}");
    assert!(
        mods.iter()
            .all(|m| m.contains(ratatui::style::Modifier::DIM)),
        "the maintenance row is dimmed"
    );
    let (wall03, mods) = row(4);
    assert!(
        wall03.contains("wall-03") && wall03.contains("✓"),
        "{wall03}"
    );
    assert!(
        !mods
            .iter()
            .any(|m| m.contains(ratatui::style::Modifier::DIM)),
        "an acked row is not dimmed"
    );
}

#[test]
fn detail_shows_the_ack_and_the_maintenance_window() {
    // wall-03's own ack; wall-07 covered by wall-B's; stage-02 in its window.
    quiet_sizes("quiet_detail_ack", &quiet(), &[Action::ToggleDetail], BOTH);
    quiet_sizes(
        "quiet_detail_group_ack",
        &quiet(),
        &[Action::Down, Action::ToggleDetail],
        SMALL,
    );
    quiet_sizes(
        "quiet_detail_maintenance",
        &quiet(),
        &[
            Action::Down,
            Action::Down,
            Action::Down,
            Action::ToggleDetail,
        ],
        SMALL,
    );
}

#[test]
fn ack_form_at_each_step() {
    // stage-01 (unreachable), in the unhealthy group stage: this node or the group?
    let f = quiet();
    let to_stage01 = [Action::Down, Action::Down];
    let mut actions = to_stage01.to_vec();
    actions.push(Action::StartAck);
    quiet_sizes("ack_form_target", &f, &actions, SMALL);
    actions.push(Action::Type('n'));
    quiet_sizes("ack_form_reason_empty", &f, &actions, SMALL);
    actions.extend(typed(
        "switch port 14 replaced; Kim re-cables the rack after lunch, back by 14:00",
    ));
    quiet_sizes("ack_form_reason", &f, &actions, SMALL);
    actions.push(Action::Submit);
    quiet_sizes("ack_form_duration", &f, &actions, SMALL);
    actions.extend(typed("2 hours-ish"));
    actions.push(Action::Submit);
    quiet_sizes("ack_form_duration_invalid", &f, &actions, SMALL);
    // The whole group, asked from the same node.
    let mut group = to_stage01.to_vec();
    group.extend([Action::StartAck, Action::Type('g')]);
    quiet_sizes("ack_form_group_reason", &f, &group, SMALL);
}

#[test]
fn unack_asks_first() {
    // wall-07 is covered by its group's ack: `A` names that one.
    quiet_sizes(
        "unack_confirm",
        &quiet(),
        &[Action::Down, Action::StartUnack],
        SMALL,
    );
}

// ---- Names in any script ----

/// Names in Hangul, kana and hanzi and with an emoji (two terminal columns a
/// character), beside ASCII names, in a group named in Hangul; one name is
/// longer than any column: (name, host, group).
const WIDE: [(&str, &str, &str); 7] = [
    ("서버-01", "10.20.0.1", "벽-A"),
    ("レンダー-02", "10.20.0.2", "벽-A"),
    ("渲染-03", "10.20.0.3", "벽-A"),
    ("wall-🎥-04", "10.20.0.4", "벽-A"),
    ("wall-05", "10.20.0.5", "벽-A"),
    (
        "렌더링-서버실-노드-아주-긴이름입니다-06",
        "10.20.0.6",
        "stage",
    ),
    ("stage-07", "10.20.0.7", "stage"),
];

/// The wide-named fleet after three rounds of answers; `渲染-03` is out of lock
/// and `stage-07` stops answering.
fn wide_fleet() -> Fleet {
    let mut text = String::from("[defaults]\ntimeout = \"5s\"\n");
    for (name, host, group) in WIDE {
        text.push_str(&format!(
            "[[node]]\nname = \"{name}\"\nhost = \"{host}\"\ngroup = \"{group}\"\n"
        ));
    }
    let cfg = Config::parse(&text, "fleet.toml").expect("wide-name fixture");
    let mut f = Fleet::new(&cfg, at(0));
    for round in 0..3u64 {
        let t = 1 + round * 7;
        for (i, (name, _, _)) in WIDE.iter().enumerate() {
            let last = i as u8 + 1;
            let outcome = match i {
                0 => state([10, 20, 0, last], 2),
                5 | 6 => Outcome::Reply(Reply::Synced),
                _ => state([10, 20, 0, last], 1),
            };
            f.apply(name, obs(t, outcome, Some(400 + i as u64 * 110)), true);
        }
    }
    f.apply(
        WIDE[2].0,
        obs(30, Outcome::Reply(Reply::Free), Some(800)),
        true,
    );
    f.apply(
        WIDE[6].0,
        obs(
            50,
            Outcome::Timeout {
                phase: TimeoutPhase::Reply,
                after: Duration::from_secs(5),
            },
            None,
        ),
        false,
    );
    f
}

/// Row `y` of the screen as a terminal shows it: a wide character's second
/// cell is left out, as it is hidden under the character.
fn row_text(buf: &ratatui::buffer::Buffer, y: u16) -> String {
    let mut out = String::new();
    let mut hidden = 0;
    for x in 0..buf.area.width {
        let symbol = buf[(x, y)].symbol();
        if hidden == 0 {
            out.push_str(symbol);
        }
        hidden = hidden
            .max(unicode_width::UnicodeWidthStr::width(symbol))
            .saturating_sub(1);
    }
    out
}

/// The terminal column where `needle` starts in `line`, counting a wide
/// character as two.
fn display_col(line: &str, needle: &str) -> Option<usize> {
    line.find(needle)
        .map(|at| unicode_width::UnicodeWidthStr::width(&line[..at]))
}

/// The start of the whitespace-separated word of `line` that contains `part`.
fn word_col(line: &str, part: &str) -> Option<usize> {
    let at = line.find(part)?;
    let start = line[..at].rfind(' ').map_or(0, |sp| sp + 1);
    Some(unicode_width::UnicodeWidthStr::width(&line[..start]))
}

#[test]
fn wide_names_keep_the_columns_in_line() {
    let fleet = wide_fleet();
    both_sizes("wide_names", &fleet, &[]);
    // Whatever the names, each column after NAME starts under its header on every
    // row that has something in it.
    for (w, h) in [(80, 24), (160, 48)] {
        let terminal = draw(&fleet, &mut View::new(true), w, h);
        let buf = terminal.backend().buffer();
        let lines: Vec<String> = (0..h).map(|y| row_text(buf, y)).collect();
        let head = lines
            .iter()
            .position(|l| l.starts_with("STATUS"))
            .expect("the table header");
        let rows: Vec<&String> = lines[head + 1..]
            .iter()
            .take_while(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(rows.len(), WIDE.len(), "{w}x{h}: every node has a row");
        let column = |title: &str| display_col(&lines[head], title).expect(title);
        let mut checked = vec![0; rows.len()];
        for (i, row) in rows.iter().enumerate() {
            let mut check = |title: &str, found: Option<usize>| {
                if let Some(x) = found {
                    assert_eq!(x, column(title), "{w}x{h}: {title} out of line in {row:?}");
                    checked[i] += 1;
                }
            };
            if lines[head].contains("ADDRESS") {
                check("ADDRESS", display_col(row, "10.20.0."));
            }
            check(
                "ROLE/CODE",
                word_col(row, "(state").and(word_col(row, "Master").or(word_col(row, "Slave"))),
            );
            check("LATENCY", word_col(row, "ms "));
            check("ERROR", display_col(row, "no reply"));
        }
        assert!(checked.iter().all(|c| *c > 0), "{w}x{h}: {checked:?}");
    }
}

#[test]
fn wide_names_in_the_detail_popup_and_the_ack_form() {
    let fleet = wide_fleet();
    // The first row under the default sort is the free node, 渲染-03.
    both_sizes("wide_names_detail", &fleet, &[Action::ToggleDetail]);
    // A reason typed in Hangul, longer than the input line: its end stays in view.
    let mut actions = vec![Action::StartAck, Action::Type('n')];
    actions.extend(typed(
        "동기화 케이블 교체 중입니다 김 기사가 점심 후에 랙을 다시 연결하고 오후 두 시까지 끝냅니다",
    ));
    quiet_sizes("wide_names_ack_reason", &fleet, &actions, SMALL);
}

/// The display column where each line's `STATUS` cell starts in the node table
/// of a `--once` table: the header's first, then every node row's (found by the
/// status symbol). All equal when the table is aligned.
fn status_columns(table: &str) -> Vec<usize> {
    use unicode_width::UnicodeWidthStr;
    let mut cols = Vec::new();
    for line in table.lines().take_while(|l| !l.is_empty()) {
        let at = if line.starts_with("NAME") {
            line.find("STATUS")
        } else {
            ["✔ ", "✖ ", "▲ "].iter().filter_map(|s| line.find(s)).min()
        };
        let at = at.unwrap_or_else(|| panic!("no status in {line:?}"));
        cols.push(line[..at].width());
    }
    cols
}

/// Removes ANSI colour codes (`ESC [ … m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&rest[..at]);
        rest = rest[at..].split_once('m').map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out
}

#[test]
fn once_table_pads_wide_names_by_terminal_columns() {
    let snap = wide_fleet().snapshot(at(200));
    let plain = syncguard_fleet::report::table(&snap, false);
    insta::assert_snapshot!("wide_names_once_table", plain);
    let cols = status_columns(&plain);
    assert_eq!(cols.len(), 1 + WIDE.len(), "{plain}");
    assert!(cols.iter().all(|c| *c == cols[0]), "{cols:?}\n{plain}");
    // The long name is cut to at most 32 columns with `…`: `입` would take the
    // 31st and 32nd, leaving none for the `…`, so the name stops at 30 columns.
    assert!(
        plain.contains("렌더링-서버실-노드-아주-긴이름…  10.20.0.6"),
        "{plain}"
    );
    // Colour codes take no column: with them removed the table is the same.
    let coloured = syncguard_fleet::report::table(&snap, true);
    assert_ne!(coloured, plain);
    assert_eq!(strip_ansi(&coloured), plain);
}

/// The check above is not vacuous: a table padded by characters, as a naive
/// `format!("{:<w$}")` does, fails it.
#[test]
fn padding_by_characters_is_caught() {
    let rows = [
        ("NAME", "STATUS"),
        ("서버-01", "✔ synced"),
        ("wall-05", "✔ synced"),
    ];
    let w = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    let table: String = rows
        .iter()
        .map(|(n, s)| format!("{n:<w$}  {s}\n"))
        .collect();
    let cols = status_columns(&table);
    assert_ne!(cols[1], cols[0], "{table}");
}
