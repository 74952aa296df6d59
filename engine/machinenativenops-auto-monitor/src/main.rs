//! `machinenativenops-auto-monitor`: command-line entry point (parsing only).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use machinenativenops_auto_monitor::config::{self, Effective, FlagOverrides};
use machinenativenops_auto_monitor::{exposition, service};

/// MachineNativeOps Auto-Monitor: host metrics for Prometheus, service checks, alerts.
///
/// With no configuration file the embedded default_config.yaml is used.
/// Precedence: built-in defaults < file (--config or MNO_CONFIG) < MNO_* environment < flags.
/// Environment: MNO_CONFIG, MNO_LOG_LEVEL, MNO_LOG_FORMAT, MNO_LOG_FILE, MNO_PORT, MNO_BIND,
/// MNO_DB_PATH, MNO_INTERVAL, MNO_API_TOKEN.
#[derive(Parser, Debug)]
#[command(name = "machinenativenops-auto-monitor", version, about, long_about)]
struct Cli {
    /// Configuration file (YAML); default: MNO_CONFIG, else the embedded default.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log level: DEBUG, INFO, WARNING, ERROR, CRITICAL (overrides logging.level).
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log format on stderr and in the log file.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Command,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the agent: collect every interval, store the samples, evaluate alert rules, and serve
    /// /metrics, /health, /ready, the Prometheus query API and the alert API.
    Serve {
        /// Port to listen on (overrides monitoring.prometheus_port and MNO_PORT).
        #[arg(long)]
        port: Option<u16>,
        /// Address to bind (overrides monitoring.bind_address and MNO_BIND).
        #[arg(long)]
        bind: Option<String>,
        /// Seconds between collections (overrides monitoring.interval and MNO_INTERVAL).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        interval: Option<u64>,
        /// Log what auto-repair would do and do nothing (sets auto_repair.dry_run).
        #[arg(long)]
        dry_run: bool,
    },
    /// Check alert rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Collect and print a snapshot of every metric.
    Collect {
        /// Print one snapshot and exit (without it, print one every interval until Ctrl-C).
        #[arg(long)]
        once: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "prometheus")]
        format: CollectFormat,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Back up the local time-series store into the rotating set beside it.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Replace the local store with a backup (stop the agent first; the current database is
    /// moved aside, not deleted).
    Restore {
        /// The backup file to restore.
        file: PathBuf,
    },
    /// Run a PromQL query against the local store and print a table.
    ///
    /// Times are Unix seconds or RFC 3339; steps are seconds or durations like 15s.
    /// Any of --start/--end/--step makes it a range query.
    Query {
        /// The PromQL expression.
        expr: String,
        /// Evaluation time of an instant query (default: now).
        #[arg(long)]
        time: Option<String>,
        /// Range start (default: one hour before --end).
        #[arg(long)]
        start: Option<String>,
        /// Range end (default: now).
        #[arg(long)]
        end: Option<String>,
        /// Range step (default: the range / 250, at least 1s).
        #[arg(long)]
        step: Option<String>,
        /// Print Prometheus' JSON response instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// Check a Prometheus rule file, or (without FILE) every rule the configuration loads:
    /// the defaults, `alerts.rules` and `alerts.rule_files`. Problems are printed as
    /// file:line:column: key: message; the exit status is 2 when there is any. A file fails
    /// where `promtool check rules` fails: not a mapping, an unknown key, a bad expression.
    Check {
        /// A rule file (`groups: [...]`); an empty file has no rules.
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum BackupCommand {
    /// Take an online backup now (the agent may keep running).
    Now,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
enum CollectFormat {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0.
    Openmetrics,
    /// JSON: the batch with its families and samples.
    Json,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Check a configuration file (default: --config, MNO_CONFIG, or the embedded default).
    Validate {
        /// The file to check.
        file: Option<PathBuf>,
    },
    /// Print the effective configuration after defaults, file, environment and flags.
    Show {
        /// Output format.
        #[arg(long, value_enum, default_value = "yaml")]
        format: ShowFormat,
    },
    /// Print the JSON Schema of the configuration file.
    Schema,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ShowFormat {
    Yaml,
    Json,
}

/// Exit status for configuration errors (distinct from runtime failures, which are 1).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    machinenativenops_auto_monitor::memory::tune_malloc();
    let cli = Cli::parse();
    let mut flags = FlagOverrides {
        log_level: cli.log_level.clone(),
        log_format: cli.log_format.map(|f| format!("{f:?}").to_lowercase()),
        ..Default::default()
    };
    if let Command::Serve {
        port,
        bind,
        interval,
        dry_run,
    } = &cli.command
    {
        flags.port = *port;
        flags.bind = bind.clone();
        flags.interval = *interval;
        flags.dry_run = *dry_run;
    }
    let env = |k: &str| std::env::var(k).ok();
    let file = match &cli.command {
        Command::Config {
            command: ConfigCommand::Validate { file: Some(f) },
        } => Some(f.clone()),
        _ => cli.config.clone(),
    };
    let eff = match config::load(file.as_deref(), &env, &flags) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match cli.command {
        Command::Serve { .. } => run_serve(eff),
        Command::Collect { once, format } => run_collect(eff, once, format),
        Command::Config { command } => run_config(eff, command),
        Command::Rules {
            command: RulesCommand::Check { file },
        } => run_rules_check(eff, file.as_deref()),
        Command::Backup {
            command: BackupCommand::Now,
        } => run_backup_now(eff),
        Command::Restore { file } => run_restore(eff, &file),
        Command::Query {
            expr,
            time,
            start,
            end,
            step,
            json,
        } => run_query(
            eff,
            machinenativenops_auto_monitor::api::query::CliQuery {
                expr,
                time,
                start,
                end,
                step,
            },
            json,
        ),
    }
}

fn run_rules_check(eff: Effective, file: Option<&std::path::Path>) -> ExitCode {
    use machinenativenops_auto_monitor::alerts::rules;
    let (what, result) = match file {
        Some(f) => (f.display().to_string(), rules::check_file(f)),
        None => (
            eff.source.to_string(),
            rules::load(&eff.config, &eff.source, &eff.index),
        ),
    };
    match result {
        Ok(set) => {
            for w in &set.warnings {
                eprintln!("warning: {w}");
            }
            println!("{what}: SUCCESS: {} rules found", set.len());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!("{what}: FAILED: {} problem(s)", errors.len());
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// The store file the configuration resolves to (the same rule `serve` uses).
fn db_path(eff: &Effective) -> PathBuf {
    mno_common::resolve_data_file(
        std::path::Path::new(&eff.config.database.path),
        "auto_monitor",
    )
    .path
}

fn run_backup_now(eff: Effective) -> ExitCode {
    quiet_logging(&eff);
    let db = db_path(&eff);
    let keep = eff.config.database.backup_keep.max(1) as usize;
    match machinenativenops_auto_monitor::store::backup::take_backup(&db, keep) {
        Ok(p) => {
            println!("backup written: {}", p.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: backup of {}: {e}", db.display());
            ExitCode::FAILURE
        }
    }
}

fn run_restore(eff: Effective, file: &std::path::Path) -> ExitCode {
    quiet_logging(&eff);
    let db = db_path(&eff);
    match machinenativenops_auto_monitor::store::backup::restore(&db, file) {
        Ok(r) => {
            if let Some(p) = r.previous_moved_to {
                println!("previous database moved to {}", p.display());
            }
            println!("restored {} into {}", file.display(), db.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: restore {} into {}: {e}",
                file.display(),
                db.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // One worker is plenty for an agent that serves pre-rendered bytes (the store and the alert
    // evaluation run on their own or blocking threads); each extra worker costs its stack and a
    // malloc arena of resident memory. `MNO_WORKER_THREADS` overrides it (benchmarks).
    let workers = std::env::var("MNO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(4)
        .enable_all()
        .build()
}

fn run_serve(eff: Effective) -> ExitCode {
    let data = mno_common::resolve_data_file(
        std::path::Path::new(&eff.config.database.path),
        "auto_monitor",
    );
    let log_warnings = match mno_common::logging::init(&eff.config.log_settings()) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let data_note = if data.fallback {
        format!(
            " (fallback: the directory of {} is not writable)",
            eff.config.database.path
        )
    } else {
        String::new()
    };
    tracing::info!(
        "machinenativenops-auto-monitor {} starting; config: {}; data: {}{}",
        env!("CARGO_PKG_VERSION"),
        eff.source,
        data.path.display(),
        data_note
    );
    for w in eff.warnings.iter().chain(log_warnings.iter()) {
        tracing::warn!("{w}");
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(service::serve(&eff, &data.path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            match e {
                service::ServeError::Bind(_) | service::ServeError::Setup(_) => {
                    ExitCode::from(EXIT_CONFIG)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn quiet_logging(eff: &Effective) {
    // One-shot commands print results on stdout; logs stay on stderr and off the log file.
    let mut s = eff.config.log_settings();
    s.file = None;
    if s.level.eq_ignore_ascii_case("INFO") {
        s.level = "WARNING".into();
    }
    let _ = mno_common::logging::init(&s);
}

fn run_collect(eff: Effective, once: bool, format: CollectFormat) -> ExitCode {
    quiet_logging(&eff);
    for w in &eff.warnings {
        tracing::warn!("{w}");
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let print = |snap: &machinenativenops_auto_monitor::Snapshot| -> Result<(), String> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let r = match format {
            CollectFormat::Prometheus => out.write_all(&snap.rendered.text),
            CollectFormat::Openmetrics => out.write_all(&snap.rendered.openmetrics),
            CollectFormat::Json => serde_json::to_writer_pretty(&mut out, &*snap.batch)
                .map_err(std::io::Error::other)
                .and_then(|_| writeln!(out)),
        };
        r.and_then(|_| out.flush()).map_err(|e| e.to_string())
    };
    let result: Result<(), String> = rt.block_on(async {
        if once {
            let snap = service::collect_once(&eff)
                .await
                .map_err(|e| e.to_string())?;
            return print(&snap);
        }
        let interval = std::time::Duration::from_secs(eff.config.monitoring.interval.max(1) as u64);
        let checker = machinenativenops_auto_monitor::checks::Checker::new(
            machinenativenops_auto_monitor::checks::specs(&eff.config)?,
        );
        let mut agent = machinenativenops_auto_monitor::Agent::new(&eff.config, checker)?;
        let mut tick = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = mno_common::server::shutdown_signal() => return Ok(()),
                _ = tick.tick() => {}
            }
            let batch = agent.collect();
            let rendered = exposition::Rendered::new(&batch);
            print(&machinenativenops_auto_monitor::Snapshot { batch, rendered })?;
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_config(eff: Effective, command: ConfigCommand) -> ExitCode {
    match command {
        ConfigCommand::Validate { .. } => {
            for w in &eff.warnings {
                eprintln!("warning: {w}");
            }
            println!("{}: configuration is valid", eff.source);
            ExitCode::SUCCESS
        }
        ConfigCommand::Show { format } => {
            for w in &eff.warnings {
                eprintln!("warning: {w}");
            }
            let text = match format {
                ShowFormat::Yaml => eff.config.to_yaml_masked(),
                ShowFormat::Json => eff
                    .config
                    .to_yaml_masked()
                    .and_then(|y| {
                        serde_saphyr::from_str::<serde_json::Value>(&y).map_err(|e| e.to_string())
                    })
                    .and_then(|v| serde_json::to_string_pretty(&v).map_err(|e| e.to_string())),
            };
            match text {
                Ok(t) => {
                    if matches!(format, ShowFormat::Yaml) {
                        println!("# effective configuration (source: {})", eff.source);
                    }
                    print!("{t}");
                    if !t.ends_with('\n') {
                        println!();
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        ConfigCommand::Schema => match serde_json::to_string_pretty(&config::json_schema()) {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run_query(
    eff: Effective,
    q: machinenativenops_auto_monitor::api::query::CliQuery,
    json: bool,
) -> ExitCode {
    use machinenativenops_auto_monitor::api::query;
    quiet_logging(&eff);
    let db = db_path(&eff);
    // Read-only: the agent may be running and writing the same file.
    let store = match machinenativenops_auto_monitor::store::Store::open_read_only(&db) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot open the store {}: {e}", db.display());
            return ExitCode::FAILURE;
        }
    };
    match query::run_cli_query(&store, &q) {
        Ok(v) if json => {
            println!("{}", mno_promql::json::render_success(&v));
            ExitCode::SUCCESS
        }
        Ok(v) => {
            print!("{}", query::table(&v));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {} ({})", e, e.error_type());
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
