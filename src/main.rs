//! The `syncguard-fleet` binary: parse the command line, set up logging, dispatch,
//! and map the outcome to a Nagios exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Parser;

use syncguard_fleet::ack_client::Remote;
use syncguard_fleet::cli::{Cli, Command, ConfigAction, NotifyAction, QueryArgs, SimArgs};
use syncguard_fleet::config::Config;
use syncguard_fleet::model::Verdict;
use syncguard_fleet::platform::limits;
use syncguard_fleet::report::{self, Format};
use syncguard_fleet::sim::{self, Sim};
use syncguard_fleet::store::schema::OpenError;
use syncguard_fleet::store::{History, StartError};
use syncguard_fleet::{demo, logging, once, system_service, ui, watch};

fn main() -> ExitCode {
    syncguard_fleet::platform::memory::return_large_frees();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors; usage errors are UNKNOWN.
            return if e.use_stderr() {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // The long-running modes (dashboard, watch) are IO-bound and mostly idle: one
    // thread serves 10,000 nodes and avoids waking a second one for every event,
    // which measured about a quarter less CPU. A one-shot check and the simulator
    // do bursts of work and use every core.
    let long_running =
        !cli.once && matches!(cli.command, None | Some(Command::Demo | Command::Watch(_)));
    let mut builder = if long_running {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("syncguard-fleet: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(verdict) => ExitCode::from(verdict.exit_code()),
        Err(e) => {
            eprintln!("syncguard-fleet: {e:#}");
            ExitCode::from(Verdict::Unknown.exit_code())
        }
    };
    // A DNS lookup stuck in the resolver must not hold the exit: dropping the
    // runtime would wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

async fn run(cli: Cli) -> anyhow::Result<Verdict> {
    match &cli.command {
        Some(Command::Sim(args)) => run_sim(args).await.map(|()| Verdict::Ok),
        Some(Command::Watch(args)) => {
            let config = cli.load_selected(&cli.select.and(&args.select))?;
            if let Some(shard) = config.shard.filter(|_| config.nodes.is_empty()) {
                empty_shard_warning(shard, &config);
            }
            let _log = match &cli.log_file {
                Some(path) => Some(logging::to_file(path)?),
                None => {
                    // Transitions are already the stdout lines.
                    logging::to_stderr(&format!("warn,{}=off", logging::TRANSITIONS));
                    None
                }
            };
            check_nofile(&config);
            let (history, _temp) =
                start_history(&cli, &config, Some(&cli.config_path()), Writer::Watch)?;
            let options = watch::WatchOptions {
                events: args.events,
                http: syncguard_fleet::http::plan(&config, cli.http, cli.metrics, false)?,
                watch_config: cli.watch_config,
                signals: true,
                history,
            };
            watch::run(
                &config,
                Some(cli.config_path()),
                options,
                std::future::pending(),
            )
            .await
            .map(|()| Verdict::Ok)
        }
        Some(Command::History(args)) => run_query(&cli, args, Query::History),
        Some(Command::Uptime(args)) => run_query(&cli, args, Query::Uptime),
        Some(Command::Service(args)) => {
            system_service::act(args.action, &cli.config_path(), cli.watch_config)
                .map(|()| Verdict::Ok)
        }
        Some(Command::Notify(args)) => {
            // With --shard, the test goes out labelled as that instance's would.
            let config = cli.load_selected(&cli.select)?;
            let NotifyAction::Test { channel } = &args.action;
            let all_ok = syncguard_fleet::notify::send_test(
                &config,
                channel.as_deref(),
                &mut std::io::stdout(),
            )
            .await?;
            Ok(if all_ok {
                Verdict::Ok
            } else {
                Verdict::Warning
            })
        }
        Some(Command::Ack(args)) => {
            let remote = Remote::new(&args.remote, &cli.config_path(), || cli.load_config())?;
            let line = remote
                .ack(&args.target, args.lasts.as_ref(), &args.reason)
                .await?;
            print_stdout(&(line + "\n"))?;
            Ok(Verdict::Ok)
        }
        Some(Command::Unack(args)) => {
            let remote = Remote::new(&args.remote, &cli.config_path(), || cli.load_config())?;
            let line = remote.unack(&args.target).await?;
            print_stdout(&(line + "\n"))?;
            Ok(Verdict::Ok)
        }
        Some(Command::Demo) => {
            let demo = demo::start().await?;
            let config = cli.select.selection().apply(demo.config.clone())?;
            run_fleet(&cli, config).await
        }
        None => {
            let config = cli.load_selected(&cli.select)?;
            run_fleet(&cli, config).await
        }
        Some(Command::Config(args)) => {
            let whole = cli.load_config()?;
            let config = cli.select.selection().apply(whole.clone())?;
            let out = match args.action {
                ConfigAction::Check => report::config::summary(&whole, &config, &cli.config_path()),
                ConfigAction::Show => {
                    syncguard_fleet::config::show(&config, Some(&cli.config_path()))
                }
            };
            print_stdout(&out)?;
            Ok(Verdict::Ok)
        }
        Some(Command::Discover(args)) => {
            syncguard_fleet::discover::run(args, Some(&cli.config_path()), cli.select.shard)
                .await?;
            Ok(Verdict::Ok)
        }
        Some(Command::Completions(args)) => {
            let script = syncguard_fleet::manual::completions(args.shell);
            print_stdout(&String::from_utf8_lossy(&script))?;
            Ok(Verdict::Ok)
        }
        Some(Command::Manpage) => {
            let page = syncguard_fleet::manual::manpage().context("rendering the man page")?;
            print_stdout(&String::from_utf8_lossy(&page))?;
            Ok(Verdict::Ok)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Query {
    History,
    Uptime,
}

impl Query {
    fn default_span(self) -> Duration {
        match self {
            Query::History => syncguard_fleet::store::query::HISTORY_SPAN,
            Query::Uptime => syncguard_fleet::store::query::UPTIME_SPAN,
        }
    }
}

/// `history` and `uptime`: read the history file (never created, never written)
/// and print the answer.
fn run_query(cli: &Cli, args: &QueryArgs, query: Query) -> anyhow::Result<Verdict> {
    use syncguard_fleet::store::{query as q, schema};
    let path = query_db_path(cli, args)?;
    let now = syncguard_fleet::store::ms(SystemTime::now());
    let window = q::Window::resolve(args.from, args.to, args.since, query.default_span(), now)
        .map_err(anyhow::Error::msg)?;
    let filter = q::Filter {
        nodes: args.nodes.clone(),
        groups: args.groups.clone(),
    };
    let conn = schema::open_for_reading(&path)?;
    let out = match (query, cli.format) {
        (_, Format::Nagios) => {
            anyhow::bail!(
                "--format nagios is for --once; history and uptime print table, json or csv"
            )
        }
        (Query::History, format) => {
            let a = q::history(&conn, window, &filter, now)?;
            match format {
                Format::Json => report::history::history_json(&a),
                Format::Csv => report::history::history_csv(&a),
                _ => report::history::history_table(&a),
            }
        }
        (Query::Uptime, format) => {
            let a = q::uptime(&conn, window, &filter, now)?;
            match format {
                Format::Json => report::history::uptime_json(&a),
                Format::Csv => report::history::uptime_csv(&a),
                _ => report::history::uptime_table(&a),
            }
        }
    };
    print_stdout(&out)?;
    Ok(Verdict::Ok)
}

/// The file `history` and `uptime` read: `--db`, else `--history`, else the one
/// the fleet file's monitor writes (`[history] path`, else the default place).
fn query_db_path(cli: &Cli, args: &QueryArgs) -> anyhow::Result<std::path::PathBuf> {
    if let Some(p) = args.db.as_ref().or(cli.history.as_ref()) {
        return Ok(p.clone());
    }
    let config_path = cli.config_path();
    match Config::load(&config_path) {
        Ok(c) => {
            Ok(c.history.path.clone().unwrap_or_else(|| {
                syncguard_fleet::platform::paths::history_path(Some(&config_path))
            }))
        }
        // No fleet file anywhere: the default place is still where a monitor
        // would have written.
        Err(syncguard_fleet::config::ConfigError::Read { cause, .. })
            if cli.config.is_none() && cause.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(syncguard_fleet::platform::paths::history_path(None))
        }
        Err(e) => Err(e.into()),
    }
}

/// Raises the open-file limit and warns (stderr and log) when the fleet needs more.
fn check_nofile(config: &Config) {
    let limit = limits::raise_nofile();
    if let Some(w) = limits::shortfall_warning(config, limit) {
        eprintln!("{w}");
        tracing::warn!("{w}");
    }
}

async fn run_fleet(cli: &Cli, config: Config) -> anyhow::Result<Verdict> {
    check_nofile(&config);
    if let Some(shard) = config.shard.filter(|_| config.nodes.is_empty()) {
        // A check of nothing is not OK; a monitor of nothing still reports
        // itself (its shard's metrics), so Prometheus sees the instance is up.
        if cli.once {
            anyhow::bail!(
                "shard {shard} of {} has no nodes: nothing to check",
                config.source
            );
        }
        empty_shard_warning(shard, &config);
    }
    if cli.once {
        let _log = match &cli.log_file {
            Some(path) => Some(logging::to_file(path)?),
            None => None,
        };
        let options = once::OnceOptions {
            acks: match cli.command {
                // The demo's fleet is new every time: nobody acknowledged it.
                Some(Command::Demo) => Vec::new(),
                _ => once_acks(cli, &config),
            },
            ignore_acked: cli.ignore_acked,
        };
        return run_once(&config, cli.format, cli.wait, options).await;
    }
    let config_path = cli.command.is_none().then(|| cli.config_path());
    let log_path = cli.log_file.clone().unwrap_or_else(|| {
        syncguard_fleet::platform::paths::default_log_path(config_path.as_deref())
    });
    let log = logging::to_file(&log_path)?;
    let writer = match cli.command {
        Some(Command::Demo) => Writer::Demo,
        _ => Writer::Dashboard,
    };
    let http = syncguard_fleet::http::plan(&config, cli.http, cli.metrics, writer == Writer::Demo)?;
    let (history, temp) = start_history(cli, &config, config_path.as_deref(), writer)?;
    let result = ui::app::run(&config, config_path, http, cli.watch_config, history).await;
    drop(temp);
    drop(log);
    // Not eprintln: after a hangup stderr may be a dead terminal.
    let _ = writeln!(std::io::stderr(), "log: {}", log_path.display());
    result.map(|()| Verdict::Ok)
}

fn empty_shard_warning(shard: syncguard_fleet::model::Shard, config: &Config) {
    let w = format!(
        "warning: shard {shard} of {} has no nodes; watching nothing until a reload gives it some",
        config.source
    );
    eprintln!("{w}");
    tracing::warn!("{w}");
}

/// Which long-running mode wants the history store.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writer {
    Watch,
    Dashboard,
    Demo,
}

/// The history store for a long-running mode, started; `None` when it is off.
/// `demo` writes to a temporary file removed on exit, unless `--history` names one.
/// A file this version must not touch stops the start (exit 3). Another monitor
/// on the file stops `watch` (exit 3: two daemons on one file is a mistake), while
/// a dashboard opened beside a running `watch` goes on and leaves the writing to
/// it. Any other trouble opening the file is a warning, and monitoring goes on
/// without history.
fn start_history(
    cli: &Cli,
    config: &Config,
    config_path: Option<&std::path::Path>,
    writer: Writer,
) -> anyhow::Result<(Option<Arc<History>>, Option<tempfile::TempDir>)> {
    let demo = writer == Writer::Demo;
    if cli.no_history || (!config.history.enabled && cli.history.is_none()) {
        return Ok((None, None));
    }
    let (path, temp) = match (&cli.history, demo) {
        (Some(p), _) => (p.clone(), None),
        (None, true) => {
            // A private directory (mode 0700 on Unix, a random name): nobody
            // else can plant a file or a link where the demo writes.
            let dir = tempfile::Builder::new()
                .prefix("syncguard-demo-")
                .tempdir()
                .context("cannot create a temporary directory for the demo's history")?;
            (dir.path().join("history.db"), Some(dir))
        }
        (None, false) => (
            config
                .history
                .path
                .clone()
                .unwrap_or_else(|| syncguard_fleet::platform::paths::history_path(config_path)),
            None,
        ),
    };
    match History::start(&path, config.history.retention) {
        Ok(h) => {
            tracing::info!("writing history to {}", path.display());
            Ok((Some(Arc::new(h)), temp))
        }
        Err(e @ StartError::Open(OpenError::Newer { .. } | OpenError::NotOurs { .. })) => {
            Err(e.into())
        }
        Err(e @ StartError::Locked { .. }) if writer == Writer::Watch => Err(e.into()),
        Err(e) => {
            eprintln!("warning: {e}; monitoring without history");
            tracing::warn!("{e}; monitoring without history");
            Ok((None, temp))
        }
    }
}

/// The acks in force for `--once`, from the history file the monitor writes
/// (`--history`, else `[history] path`, else the default place), read only. No
/// history (`--no-history`, `[history] enabled = false`), no file, or a file
/// that cannot be read: no acks, never an error.
fn once_acks(cli: &Cli, config: &Config) -> Vec<syncguard_fleet::model::Ack> {
    if cli.no_history || (!config.history.enabled && cli.history.is_none()) {
        return Vec::new();
    }
    let path = cli
        .history
        .clone()
        .or_else(|| config.history.path.clone())
        .unwrap_or_else(|| {
            syncguard_fleet::platform::paths::history_path(Some(&cli.config_path()))
        });
    if !path.is_file() {
        return Vec::new();
    }
    syncguard_fleet::store::active_acks(&path)
}

/// `--once`: check every node concurrently, print, and return the verdict.
async fn run_once(
    config: &Config,
    format: Format,
    wait: Duration,
    options: once::OnceOptions,
) -> anyhow::Result<Verdict> {
    let started = SystemTime::now();
    let ignore_acked = options.ignore_acked;
    // Interrupted is UNKNOWN (exit 3): the check did not finish, so it says nothing.
    let snap = tokio::select! {
        r = once::check_with(config, wait, options) => r?,
        () = syncguard_fleet::platform::shutdown() => anyhow::bail!("interrupted"),
    };
    let out = match format {
        Format::Table => report::table(&snap, use_color()),
        Format::Json => report::json(&snap, started) + "\n",
        Format::Nagios => report::nagios(&snap, ignore_acked) + "\n",
        Format::Csv => anyhow::bail!(
            "--format csv is for history and uptime; --once prints table, json or nagios"
        ),
    };
    print_stdout(&out)?;
    Ok(snap.verdict)
}

async fn run_sim(args: &SimArgs) -> anyhow::Result<()> {
    // Each simulated node holds a listener and its connections.
    limits::raise_nofile();
    if let Some(target) = args.push {
        return run_push_sim(args, target).await;
    }
    let specs = if args.nodes.is_empty() {
        let defaults: Vec<String> = [
            "synced", "free", "state0", "state1", "state2", "split", "slow", "silent", "close",
            "garbage", "refused",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        sim::parse_specs(&defaults)
    } else {
        sim::parse_specs(&args.nodes)
    }
    .map_err(anyhow::Error::msg)?;
    logging::to_stderr("info");
    let sim = if args.shared_port {
        Sim::start_shared_port(specs, args.flap_period).await
    } else {
        Sim::start(specs, args.bind, args.flap_period).await
    }
    .with_context(|| format!("cannot listen on {}", args.bind))?;
    if let Some(path) = &args.write_config {
        std::fs::write(path, sim.fleet_toml(""))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {} ({} nodes)", path.display(), sim.nodes.len());
    }
    let mut listing = String::new();
    for n in sim.nodes.iter().take(50) {
        listing.push_str(&format!(
            "{:<16} {:<8} {}\n",
            n.spec.name, n.spec.behaviour, n.addr
        ));
    }
    if sim.nodes.len() > 50 {
        listing.push_str(&format!("… and {} more\n", sim.nodes.len() - 50));
    }
    print_stdout(&listing)?;
    eprintln!("simulating {} nodes; Ctrl-C to stop", sim.nodes.len());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Prints to stdout; a closed pipe (`| head`) is not an error worth a message.
fn print_stdout(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// `sim --push`: act as many SyncGuard V3 senders pointed at a monitor.
async fn run_push_sim(args: &SimArgs, target: std::net::SocketAddr) -> anyhow::Result<()> {
    logging::to_stderr("warn");
    let plan = sim::PushPlan {
        count: args.count,
        base: args.ip_base,
        group_size: args.group_size,
        error_every: args.error_every,
        flap_every: args.flap_every,
        unknown_every: args.unknown_every,
    };
    if let Some(path) = &args.write_config {
        std::fs::write(path, plan.fleet_toml(target, Duration::from_secs(30)))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {} ({} push nodes)", path.display(), plan.count);
    }
    let (mut tasks, stats) = sim::start_push_senders(
        target,
        &plan,
        args.interval,
        args.flap_period,
        Duration::from_secs(1),
    );
    eprintln!(
        "{} SyncGuard V3 senders pushing to {target} every {}; Ctrl-C to stop",
        plan.count,
        humantime::format_duration(args.interval)
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    // Stop every sender before reading the count, so no line is written after it.
    tasks.shutdown().await;
    use std::sync::atomic::Ordering::Relaxed;
    eprintln!(
        "sent {} lines; {} connects, {} failed connects",
        stats.lines_sent.load(Relaxed),
        stats.connects.load(Relaxed),
        stats.connect_failures.load(Relaxed)
    );
    Ok(())
}
