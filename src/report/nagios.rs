//! The Nagios plugin line: verdict, the unhealthy nodes by name, groups with a wrong
//! Master count, and perfdata per status.

use std::fmt::Write;

use crate::model::Status;
use crate::present;
use crate::state::{NodeView, Snapshot};

/// How many unhealthy nodes the Nagios line names before it says "and N more".
const NAGIOS_NAMES: usize = 10;

/// `SYNCGUARD CRITICAL - 2 of 12 nodes unhealthy: wall-03 free, ...; 1
/// acknowledged, 1 in maintenance | synced=10 ...`
///
/// A node in maintenance is never named among the unhealthy (it does not count
/// towards the verdict either). An acknowledged one still is, and counts,
/// unless `ignore_acked` (`--ignore-acked`): then it is only counted among the
/// acknowledged. Groups likewise.
pub fn nagios(snap: &Snapshot, ignore_acked: bool) -> String {
    let counts = &snap.counts;
    let verdict = snap.verdict;
    let counted = |n: &NodeView| n.maintenance.is_none() && !(ignore_acked && n.ack.is_some());
    let bad: Vec<&NodeView> = snap
        .nodes
        .iter()
        .filter(|n| !n.status.is_healthy() && counted(n))
        .collect();
    // Unhealthy members are already named; a group adds news only about its master.
    let bad_groups: Vec<String> = snap
        .groups
        .iter()
        .filter(|g| g.health.has_master_problem() && !g.is_excluded(ignore_acked))
        .map(|g| {
            let what = if g.masters == 0 {
                "no master".to_owned()
            } else {
                format!("{} masters", g.masters)
            };
            format!("group {} {what}", present::name(&g.name).replace('|', "/"))
        })
        .collect();
    let mut out = format!("SYNCGUARD {verdict} - ");
    if bad.is_empty() && !bad_groups.is_empty() {
        let _ = write!(
            out,
            "{}/{} nodes synced; ",
            counts.healthy(),
            counts.total()
        );
    } else if bad.is_empty() {
        let _ = write!(out, "{}/{} nodes synced", counts.healthy(), counts.total());
    } else {
        let _ = write!(out, "{} of {} nodes unhealthy: ", bad.len(), counts.total());
        let named: Vec<String> = bad
            .iter()
            .take(NAGIOS_NAMES)
            .map(|n| {
                // `|` starts perfdata in Nagios; keep it out of names.
                let name = present::name(n.name()).replace('|', "/");
                match n.status {
                    Status::Free => match n.reply() {
                        Some(r) => format!("{name} free ({r})"),
                        None => format!("{name} free"),
                    },
                    s => format!("{name} {s}"),
                }
            })
            .collect();
        out.push_str(&named.join(", "));
        if bad.len() > NAGIOS_NAMES {
            let _ = write!(out, " and {} more", bad.len() - NAGIOS_NAMES);
        }
    }
    if !bad_groups.is_empty() {
        if !bad.is_empty() {
            out.push_str("; ");
        }
        out.push_str(&bad_groups.join("; "));
    }
    let acknowledged = snap.acknowledged();
    let maintenance = snap.in_maintenance();
    let mut quiet = Vec::new();
    if acknowledged > 0 {
        quiet.push(format!("{acknowledged} acknowledged"));
    }
    if maintenance > 0 {
        quiet.push(format!("{maintenance} in maintenance"));
    }
    if !quiet.is_empty() {
        out.push_str("; ");
        out.push_str(&quiet.join(", "));
    }
    out.push_str(" |");
    for s in Status::ALL {
        let _ = write!(
            out,
            " {}={};;;0;{}",
            s.as_str(),
            counts.get(s),
            counts.total()
        );
    }
    let max_latency = snap
        .nodes
        .iter()
        .filter_map(NodeView::latency)
        .max()
        .unwrap_or_default();
    let _ = write!(out, " latency_max={:.6}s;;;0", max_latency.as_secs_f64());
    let _ = write!(
        out,
        " acknowledged={acknowledged};;;0;{total} maintenance={maintenance};;;0;{total}",
        total = counts.total()
    );
    out
}
