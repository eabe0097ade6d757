//! One dashboard frame at 160×48 for a 10,000-node fleet, through TestBackend.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use common::{fleet_config, node_name};
use criterion::{Criterion, criterion_group, criterion_main};
use jiff::tz::TimeZone;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use syncguard_fleet::model::{Observation, Outcome};
use syncguard_fleet::protocol::{Reply, ReportedIp};
use syncguard_fleet::state::Fleet;
use syncguard_fleet::ui::{self, Screen, View};

fn fleet(n: usize) -> Fleet {
    let config = fleet_config(n);
    let t0 = SystemTime::now();
    let mut f = Fleet::new(&config, t0);
    for i in 0..n {
        let code = match i % 100 {
            0 => 0,
            _ if i % 16 == 0 => 2,
            _ => 1,
        };
        let outcome = Outcome::Reply(Reply::State {
            reported: ReportedIp::V4(Ipv4Addr::new(10, 0, 0, 1)),
            code,
        });
        f.apply(
            &node_name(i),
            Observation {
                at: t0,
                outcome,
                latency: Some(Duration::from_micros(250 + i as u64 % 900)),
            },
            true,
        );
    }
    f
}

fn frame(c: &mut Criterion) {
    let fleet = fleet(10_000).snapshot(SystemTime::now());
    let mut view = View::new(true);
    view.refresh_order(&fleet);
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    let now = SystemTime::now();
    c.bench_function("render_frame_10k_160x48", |b| {
        b.iter(|| {
            terminal
                .draw(|frame| {
                    view.scroll_into_view(ui::render::table_rows(frame.area(), &fleet));
                    let screen = Screen {
                        snap: &fleet,
                        history: &[],
                        record: syncguard_fleet::ui::RecordView::Off,
                        view: &view,
                        source: "bench.toml",
                        now,
                        tz: TimeZone::UTC,
                        color: true,
                    };
                    ui::render(frame, &screen);
                })
                .expect("draw");
        })
    });
    // Re-sorting the order after a change, which the dashboard does at most once
    // per frame when a status moved.
    c.bench_function("refresh_order_10k", |b| {
        b.iter(|| {
            view.order_dirty = true;
            view.refresh_order(&fleet);
        })
    });
}

criterion_group!(benches, frame);
criterion_main!(benches);
