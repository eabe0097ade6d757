//! Fills a history file with a realistic, large history, for benchmarking
//! `history` and `uptime` (the target: `uptime --since 30d` over 10,000 nodes and
//! 10 M stored transitions within 1 s, whole process).
//!
//!   cargo run --release --example history_fill -- [--nodes N] [--transitions M]
//!       [--days D] [--groups-of K] [--seed S] PATH
//!
//! The schema comes from `store::schema::open_for_writing`, so the file is the one
//! a monitor writes (WAL, the same tables and index, `user_version`). Then, as a
//! monitor would have recorded them over the last D days up to now:
//!
//! - runs, one every ~7 days: each ends a few minutes before the next starts,
//!   some crash (no `stopped_ms`, a longer gap after the last heartbeat), the
//!   last one stopped cleanly now;
//! - every node's (`node-00001`…, node i in group `g{i/K}`) first result at the
//!   first run's start, and again at every later run's start (a restart records
//!   each subject's status again at its first result);
//! - then per node, cycles of `synced` → `free` | `timeout` | `unreachable` (now
//!   and then `invalid`, sometimes two of them in a row) → `synced`, with the
//!   reply, code, role and error text the monitor writes; incidents are short
//!   (minutes), the rest of each cycle is in lock;
//! - per group, `healthy` → `members_free` → `healthy`, about one group row per
//!   20 node rows.
//!
//! Rows are inserted in time order (rowid follows time, as the monitor appends),
//! each with the run covering its time, in transactions of 100,000 rows. Memory
//! stays small: one heap entry per subject, never the rows themselves. The total
//! is M rows (a few fewer when the last cycles would fall after now).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use rusqlite::{Connection, params};
use syncguard_fleet::store::schema;

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// Rows per transaction.
const BATCH: u64 = 100_000;
/// A restart records every subject's status again within this long after it starts.
const RESTART_SPREAD: i64 = 10_000;
/// The share of incidents that go through two statuses (say `timeout` then
/// `unreachable`) before `synced` again.
const MULTI: f64 = 0.15;

struct Args {
    nodes: usize,
    transitions: u64,
    days: i64,
    groups_of: usize,
    seed: u64,
    path: PathBuf,
}

const USAGE: &str = "usage: history_fill [--nodes N (10000)] [--transitions M (10_000_000)] \
                     [--days D (400)] [--groups-of K (16)] [--seed S (1)] PATH";

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        nodes: 10_000,
        transitions: 10_000_000,
        days: 400,
        groups_of: 16,
        seed: 1,
        path: PathBuf::new(),
    };
    let mut path = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> anyhow::Result<u64> {
            let v = it
                .next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))?;
            v.replace('_', "")
                .parse()
                .with_context(|| format!("{name} {v}: not a whole number\n{USAGE}"))
        };
        match arg.as_str() {
            "--nodes" => a.nodes = value("--nodes")? as usize,
            "--transitions" => a.transitions = value("--transitions")?,
            "--days" => a.days = value("--days")? as i64,
            "--groups-of" => a.groups_of = value("--groups-of")? as usize,
            "--seed" => a.seed = value("--seed")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            s if s.starts_with('-') => bail!("unknown option {s}\n{USAGE}"),
            s => {
                if path.replace(PathBuf::from(s)).is_some() {
                    bail!("one output path only\n{USAGE}");
                }
            }
        }
    }
    a.path = path.with_context(|| format!("the output path is missing\n{USAGE}"))?;
    if a.nodes == 0 || a.groups_of == 0 || a.days <= 0 {
        bail!("--nodes, --groups-of and --days must be more than zero");
    }
    Ok(a)
}

/// splitmix64: reproducible, and good enough for spreading times.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponential with this mean.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Synced,
    Free,
    Timeout,
    Unreachable,
    Invalid,
    Healthy,
    MembersFree,
}

impl St {
    fn word(self) -> &'static str {
        match self {
            St::Synced => "synced",
            St::Free => "free",
            St::Timeout => "timeout",
            St::Unreachable => "unreachable",
            St::Invalid => "invalid",
            St::Healthy => "healthy",
            St::MembersFree => "members_free",
        }
    }
}

/// A node's or group's rows still to come in its current cycle.
struct Subject {
    id: i64,
    /// Index among the nodes (for names, addresses and roles), or among the groups.
    index: usize,
    group_id: Option<i64>,
    is_node: bool,
    cycle: u64,
    cycle_len: f64,
    phase: f64,
    /// The status of its last written row.
    status: St,
    /// For a group: how many members its current `members_free` row counts.
    unhealthy: u32,
    pending: [(i64, St); 3],
    n_pending: usize,
    next_pending: usize,
    last_at: i64,
}

struct Run {
    id: i64,
    start: i64,
    end: i64,
}

/// The runs: one every ~7 days over `[start, now]`; about one in eight crashes
/// (no stop, a gap of 10–60 minutes after its last heartbeat), the others stop
/// 2–5 minutes before the next starts (an upgrade, a reboot); the last stops now.
fn plan_runs(start: i64, now: i64, rng: &mut Rng) -> Vec<(Run, Option<i64>)> {
    let span = now - start;
    let count = ((span + 7 * DAY - 1) / (7 * DAY)).max(1);
    let mut out = Vec::new();
    let mut run_start = start;
    for r in 0..count {
        let last = r == count - 1;
        let next = start + (r + 1) * 7 * DAY + (rng.unit() * 6.0 * 3_600_000.0) as i64;
        let (end, stopped) = if last {
            (now, Some(now))
        } else if r % 8 == 2 {
            let end = next - (10.0 * MINUTE as f64 + rng.unit() * 50.0 * MINUTE as f64) as i64;
            (end, None)
        } else {
            let end = next - (2.0 * MINUTE as f64 + rng.unit() * 3.0 * MINUTE as f64) as i64;
            (end, Some(end))
        };
        out.push((
            Run {
                id: r + 1,
                start: run_start,
                end,
            },
            stopped,
        ));
        run_start = next;
    }
    out
}

/// Plans a subject's next cycle: a bad row (or two) some time into it, then the
/// healthy row that ends the incident a few minutes later.
fn plan_cycle(s: &mut Subject, start: i64, rng: &mut Rng) {
    let cycle_start = start as f64 + (s.cycle as f64 + s.phase) * s.cycle_len;
    s.cycle += 1;
    let bad_at = cycle_start + rng.unit() * 0.5 * s.cycle_len;
    // Incidents of minutes: a mean of 3% of the cycle, at most 20 minutes.
    let mean = (0.03 * s.cycle_len).min(20.0 * MINUTE as f64);
    let dur = rng.exp(mean).clamp(1_000.0, 0.45 * s.cycle_len);
    s.next_pending = 0;
    if s.is_node {
        let first = bad_status(rng, None);
        s.pending[0] = (bad_at as i64, first);
        if rng.unit() < MULTI {
            s.pending[1] = ((bad_at + dur / 2.0) as i64, bad_status(rng, Some(first)));
            s.pending[2] = ((bad_at + dur) as i64, St::Synced);
            s.n_pending = 3;
        } else {
            s.pending[1] = ((bad_at + dur) as i64, St::Synced);
            s.n_pending = 2;
        }
    } else {
        s.pending[0] = (bad_at as i64, St::MembersFree);
        s.pending[1] = ((bad_at + dur) as i64, St::Healthy);
        s.n_pending = 2;
    }
}

fn bad_status(rng: &mut Rng, not: Option<St>) -> St {
    loop {
        let x = rng.unit();
        let s = if x < 0.40 {
            St::Free
        } else if x < 0.75 {
            St::Timeout
        } else if x < 0.97 {
            St::Unreachable
        } else {
            St::Invalid
        };
        if Some(s) != not {
            return s;
        }
    }
}

/// What the monitor stores for a node row: role, code, reply, error.
fn node_detail(
    index: usize,
    groups_of: usize,
    status: St,
    text: &mut String,
) -> (
    Option<&'static str>,
    Option<i64>,
    bool,
    Option<&'static str>,
) {
    use std::fmt::Write;
    // One node in five answers the V1 protocol ("Synced" / "Free"); the others
    // send a state token with their address, the first of each group as Master.
    let v1 = index % 5 == 4;
    text.clear();
    let host = index + 1;
    let ip = |text: &mut String, code: u8| {
        let _ = write!(
            text,
            "10.{}.{}.{}_state{code}",
            (host >> 16) & 255,
            (host >> 8) & 255,
            host & 255
        );
    };
    match status {
        St::Synced if v1 => {
            text.push_str("Synced");
            (None, None, true, None)
        }
        St::Synced => {
            let (code, role) = if index.is_multiple_of(groups_of) {
                (2, "Master")
            } else {
                (1, "Slave")
            };
            ip(text, code);
            (Some(role), Some(code as i64), true, None)
        }
        St::Free if v1 => {
            text.push_str("Free");
            (None, None, true, None)
        }
        St::Free => {
            ip(text, 0);
            (Some("Error"), Some(0), true, None)
        }
        St::Timeout => (None, None, false, Some("no reply within 5s")),
        St::Unreachable => (None, None, false, Some("connection refused")),
        St::Invalid => (None, None, false, Some("invalid reply \"NotSynced\"")),
        St::Healthy | St::MembersFree => unreachable!("a group status for a node"),
    }
}

/// Appends the rows, in transactions of [`BATCH`], in time order.
struct Writer<'c> {
    conn: &'c Connection,
    insert: rusqlite::Statement<'c>,
    /// Rows to write at most.
    total: u64,
    nodes: usize,
    groups_of: usize,
    written: u64,
    node_rows: u64,
    group_rows: u64,
    last_at: i64,
    text: String,
}

impl Writer<'_> {
    fn full(&self) -> bool {
        self.written >= self.total
    }

    fn write(
        &mut self,
        s: &mut Subject,
        at: i64,
        run: i64,
        status: St,
        rng: &mut Rng,
    ) -> anyhow::Result<()> {
        use std::fmt::Write;
        // Time order: never before the row written last, nor before the
        // subject's own last row.
        let at = at.max(self.last_at).max(s.last_at);
        self.last_at = at;
        s.last_at = at;
        if self.written.is_multiple_of(BATCH) {
            if self.written > 0 {
                self.conn.execute_batch("COMMIT")?;
            }
            self.conn.execute_batch("BEGIN")?;
        }
        if s.is_node {
            let (role, code, is_reply, error) =
                node_detail(s.index, self.groups_of, status, &mut self.text);
            let reply = is_reply.then_some(self.text.as_str());
            self.insert.execute(params![
                at,
                s.id,
                s.group_id,
                run,
                status.word(),
                role,
                code,
                reply,
                error
            ])?;
            self.node_rows += 1;
        } else {
            self.text.clear();
            let error = if status == St::MembersFree {
                let members = self.groups_of.min(self.nodes - s.index * self.groups_of);
                if s.status != St::MembersFree {
                    s.unhealthy = 1 + (rng.next() % members.min(3) as u64) as u32;
                }
                let _ = write!(self.text, "{} of {members} members unhealthy", s.unhealthy);
                Some(self.text.as_str())
            } else {
                None
            };
            self.insert.execute(params![
                at,
                s.id,
                s.group_id,
                run,
                status.word(),
                None::<&str>,
                None::<i64>,
                None::<&str>,
                error
            ])?;
            self.group_rows += 1;
        }
        s.status = status;
        self.written += 1;
        Ok(())
    }

    /// A run's first results: every subject's status again, spread over its
    /// first seconds, nodes first as a monitor's first poll round would.
    fn restart(
        &mut self,
        run: &Run,
        subjects: &mut [Subject],
        rng: &mut Rng,
    ) -> anyhow::Result<()> {
        let n = subjects.len() as i64;
        for (k, s) in subjects.iter_mut().enumerate() {
            if self.full() {
                break;
            }
            let status = s.status;
            self.write(
                s,
                run.start + k as i64 * RESTART_SPREAD / n,
                run.id,
                status,
                rng,
            )?;
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        if self.written > 0 {
            self.conn.execute_batch("COMMIT")?;
        }
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    let began = Instant::now();
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", a.path.display()));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let conn: Connection = schema::open_for_writing(&a.path)?;
    // The generator's own settings (the file keeps WAL and the schema as is).
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")?;

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let start = now - a.days * DAY;
    let mut rng = Rng(a.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed);
    let runs = plan_runs(start, now, &mut rng);
    let n_groups = a.nodes.div_ceil(a.groups_of);

    // Subjects in the order a monitor meets them: a node, then its group when new.
    let mut subjects: Vec<Subject> = Vec::with_capacity(a.nodes + n_groups);
    let mut group_ids = vec![0i64; n_groups];
    {
        let mut add = conn.prepare("INSERT INTO subject (kind, name) VALUES (?1, ?2)")?;
        conn.execute_batch("BEGIN")?;
        for (r, stopped) in &runs {
            conn.execute(
                "INSERT INTO run (id, started_ms, heartbeat_ms, stopped_ms, version) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.id, r.start, r.end, stopped, env!("CARGO_PKG_VERSION")],
            )?;
        }
        for i in 0..a.nodes {
            add.execute(params!["node", format!("node-{:05}", i + 1)])?;
            let node_id = conn.last_insert_rowid();
            let g = i / a.groups_of;
            if i.is_multiple_of(a.groups_of) {
                add.execute(params!["group", format!("g{g}")])?;
                group_ids[g] = conn.last_insert_rowid();
            }
            subjects.push(Subject {
                id: node_id,
                index: i,
                group_id: Some(group_ids[g]),
                is_node: true,
                cycle: 0,
                cycle_len: 0.0,
                phase: 0.0,
                status: St::Synced,
                unhealthy: 0,
                pending: [(0, St::Synced); 3],
                n_pending: 0,
                next_pending: 0,
                last_at: i64::MIN,
            });
        }
        for (g, &id) in group_ids.iter().enumerate() {
            subjects.push(Subject {
                id,
                index: g,
                group_id: Some(id),
                is_node: false,
                cycle: 0,
                cycle_len: 0.0,
                phase: 0.0,
                status: St::Healthy,
                unhealthy: 0,
                pending: [(0, St::Healthy); 3],
                n_pending: 0,
                next_pending: 0,
                last_at: i64::MIN,
            });
        }
        conn.execute_batch("COMMIT")?;
    }

    // How many cycles each subject gets so that the total comes to M: about one
    // group row per 20 node rows, less the first results at each run's start.
    let m = a.transitions as f64;
    let node_rows = m * 20.0 / 21.0;
    let group_rows = m - node_rows;
    let starts = runs.len() as f64;
    let span = (now - start) as f64;
    let node_cycles =
        ((node_rows - starts * a.nodes as f64) / a.nodes as f64 / (2.0 + MULTI)).max(0.0);
    let group_cycles = ((group_rows - starts * n_groups as f64) / n_groups as f64 / 2.0).max(0.0);
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::with_capacity(subjects.len());
    for (k, s) in subjects.iter_mut().enumerate() {
        let cycles = if s.is_node { node_cycles } else { group_cycles };
        // No cycle at all (a tiny M): one that never comes.
        s.cycle_len = if cycles > 0.0 {
            (span / cycles).max(1.0)
        } else {
            2.0 * span
        };
        s.phase = rng.unit();
        // The first cycle starts after the first run's first results.
        plan_cycle(s, start + RESTART_SPREAD, &mut rng);
        heap.push(Reverse((s.pending[0].0, k)));
    }

    let mut out = Writer {
        conn: &conn,
        insert: conn.prepare(
            "INSERT INTO transition (at_ms, subject, grp, run, status, role, code, reply, error) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?,
        total: a.transitions,
        nodes: a.nodes,
        groups_of: a.groups_of,
        written: 0,
        node_rows: 0,
        group_rows: 0,
        last_at: i64::MIN,
        text: String::new(),
    };
    let mut cur = 0usize;
    out.restart(&runs[cur].0, &mut subjects, &mut rng)?;
    while !out.full() {
        let Some(&Reverse((t, k))) = heap.peek() else {
            break;
        };
        if t >= runs[cur].0.end {
            if cur + 1 == runs.len() {
                // After now.
                break;
            }
            cur += 1;
            out.restart(&runs[cur].0, &mut subjects, &mut rng)?;
            continue;
        }
        heap.pop();
        let run = &runs[cur].0;
        // A change that fell in a monitor gap is seen after the restart.
        let at = t.max(run.start + RESTART_SPREAD);
        let s = &mut subjects[k];
        let status = s.pending[s.next_pending].1;
        out.write(s, at, run.id, status, &mut rng)?;
        s.next_pending += 1;
        if s.next_pending == s.n_pending {
            plan_cycle(s, start + RESTART_SPREAD, &mut rng);
        }
        heap.push(Reverse((s.pending[s.next_pending].0, k)));
    }
    let (written, node_written, group_written) = (out.written, out.node_rows, out.group_rows);
    out.finish()?;
    // Fold the write-ahead log into the file, as a monitor's clean stop does.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    drop(conn);

    let took = began.elapsed();
    let bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", a.path.display())).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{}: {} nodes in {} groups, {} runs, {} transitions ({} node rows, {} group rows) over {} days",
        a.path.display(),
        a.nodes,
        n_groups,
        runs.len(),
        written,
        node_written,
        group_written,
        a.days
    );
    println!(
        "filled in {:.1} s ({:.0} rows/s); file {} bytes ({:.1} MiB), {:.1} bytes per transition",
        took.as_secs_f64(),
        written as f64 / took.as_secs_f64(),
        bytes,
        bytes as f64 / (1024.0 * 1024.0),
        bytes as f64 / written.max(1) as f64
    );
    Ok(())
}
