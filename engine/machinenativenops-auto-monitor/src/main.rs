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
/// MNO_DB_PATH, MNO_INTERVAL.
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
    /// Run the agent: collect every interval and serve /metrics, /health and /ready.
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
    } = &cli.command
    {
        flags.port = *port;
        flags.bind = bind.clone();
        flags.interval = *interval;
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
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // Two workers are plenty for an agent that serves pre-rendered bytes; stay light on hosts.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
    match rt.block_on(service::serve(&eff)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            match e {
                service::ServeError::Bind { .. } | service::ServeError::Setup(_) => {
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
                _ = service::shutdown_signal() => return Ok(()),
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
