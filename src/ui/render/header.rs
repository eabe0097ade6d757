//! The header: title, verdict and clock; the status counts, how many nodes are
//! in maintenance or acknowledged, and view flags; and, when the config has
//! groups, one line of group health.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Screen, tone_color};
use crate::model::{GroupHealth, Status, Verdict};
use crate::present::width::width;
use crate::present::{self, Tone, quiet};
use crate::protocol::text;

pub(super) fn draw(frame: &mut Frame, area: Rect, s: &Screen) {
    let verdict = s.snap.verdict;
    let counts = &s.snap.counts;
    // Before any answer "OK" would be a claim nothing supports yet.
    let waiting =
        verdict == Verdict::Ok && counts.get(Status::Pending) > 0 && counts.healthy() == 0;
    let verdict_style = if s.color {
        let tone = if waiting {
            Tone::Muted
        } else {
            present::verdict_tone(verdict)
        };
        Style::new()
            .bg(tone_color(tone))
            .fg(Color::Black)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
    };
    let clock = s.clock(s.now);
    let title = format!(" SyncGuard fleet · {}", present::name(s.source));
    let verdict_text = if waiting {
        " WAITING ".to_owned()
    } else {
        format!(" {verdict} ")
    };
    let used = width(&title) + width(&verdict_text) + width(&clock) + 2;
    let gap = (area.width as usize).saturating_sub(used);
    let line1 = Line::from(vec![
        Span::styled(title, Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" ".repeat(gap)),
        Span::styled(verdict_text, verdict_style),
        Span::raw(" "),
        Span::raw(clock),
    ]);
    let mut spans = vec![Span::raw(format!(" {} nodes", counts.total()))];
    for (st, n) in counts.nonzero() {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(format!("{n} {st}"), s.status_style(st)));
    }
    let used: usize = spans.iter().map(|sp| width(&sp.content)).sum();
    spans.extend(quiet_counts(
        s,
        (area.width as usize).saturating_sub(used + 1),
    ));
    // View flags on the right, most important first; those that do not fit are left off.
    let mut flags = Vec::new();
    if !s.view.filter.is_empty() && !s.view.editing_filter {
        flags.push(format!("filter: {}", text::escape_str(&s.view.filter)));
    }
    if s.view.problems_only {
        flags.push("problems only".into());
    }
    if !s.view.bell {
        flags.push("bell off".into());
    }
    flags.push(format!("sort: {}", s.view.sort.as_str()));
    let left_len: usize = spans.iter().map(|sp| width(&sp.content)).sum();
    let room = (area.width as usize).saturating_sub(left_len + 2);
    let mut right = String::new();
    for f in flags {
        let extra = if right.is_empty() {
            width(&f)
        } else {
            width(&f) + 3
        };
        if width(&right) + extra > room {
            continue;
        }
        if !right.is_empty() {
            right.push_str(" · ");
        }
        right.push_str(&f);
    }
    if !right.is_empty() {
        let gap = (area.width as usize).saturating_sub(left_len + width(&right) + 1);
        spans.push(Span::raw(" ".repeat(gap)));
        spans.push(Span::styled(right, s.fg(Color::DarkGray)));
    }
    let mut lines = vec![line1, Line::from(spans)];
    if !s.snap.groups.is_empty() {
        lines.push(groups_line(s));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// ` · ⚒ 2 in maintenance · ✓ 1 acknowledged`, shorter when that does not fit
/// in `room` (` · ⚒ 2 maint · ✓ 1 acked`, then ` · ⚒2 ✓1`); nothing when both
/// are zero.
fn quiet_counts<'a>(s: &Screen, room: usize) -> Vec<Span<'a>> {
    let (maint, acked) = (s.snap.in_maintenance(), s.snap.acknowledged());
    let forms: [[&str; 2]; 3] = [
        [" in maintenance", " acknowledged"],
        [" maint", " acked"],
        ["", ""],
    ];
    let mut out = Vec::new();
    for (i, [m_word, a_word]) in forms.iter().enumerate() {
        let tight = i == forms.len() - 1;
        let gap = if tight { "" } else { " " };
        out.clear();
        if maint > 0 {
            out.push(Span::raw(" · "));
            out.push(Span::styled(
                format!("{}{gap}{maint}{m_word}", quiet::MAINTENANCE_MARK),
                s.fg(Color::DarkGray),
            ));
        }
        if acked > 0 {
            out.push(Span::raw(if tight && maint > 0 { " " } else { " · " }));
            out.push(Span::raw(format!(
                "{}{gap}{acked}{a_word}",
                quiet::ACK_MARK
            )));
        }
        let len: usize = out.iter().map(|sp| width(&sp.content)).sum();
        if len <= room {
            break;
        }
    }
    out
}

/// ` groups 2/4 healthy · ✖ wall-A no master · ✖ stage-C 1/8 unhealthy`, a group
/// in maintenance or acknowledged marked `⚒` or `✓`.
fn groups_line<'a>(s: &Screen) -> Line<'a> {
    let groups = &s.snap.groups;
    let healthy = groups
        .iter()
        .filter(|g| g.health == GroupHealth::Healthy)
        .count();
    let mut spans = vec![Span::raw(format!(
        " groups {healthy}/{} healthy",
        groups.len()
    ))];
    for g in groups {
        // A pending group looks like a pending node; an unhealthy one like a free node.
        let (look, detail) = match &g.health {
            GroupHealth::Healthy => continue,
            GroupHealth::Pending => (Status::Pending, String::new()),
            GroupHealth::Unhealthy(_) => (Status::Free, present::group_problem_short(&g.health)),
        };
        let mark = if g.maintenance.is_some() {
            format!(" {}", quiet::MAINTENANCE_MARK)
        } else if g.ack.is_some() {
            format!(" {}", quiet::ACK_MARK)
        } else {
            String::new()
        };
        let style = if g.maintenance.is_some() {
            s.tone_style(Tone::Muted)
        } else {
            s.status_style(look)
        };
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            format!(
                "{} {}{detail}{mark}",
                present::symbol(look),
                present::name(&g.name)
            ),
            style,
        ));
    }
    Line::from(spans)
}
