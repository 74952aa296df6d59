//! `super-agent serve` and `super-agent config …`: flags to configuration, configuration to server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use super_agent::config::{self, Effective, FlagOverrides};
use super_agent::service;

/// Exit status for configuration errors (a bad file, a port in use); runtime failures are 1.
const EXIT_CONFIG: u8 = 2;

/// `super-agent serve` flags.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Configuration file (default: MNO_AGENT_CONFIG, else ./super-agent.yaml if present,
    /// else built-in defaults).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Port to listen on (overrides `port` and MNO_AGENT_PORT; default 8082).
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind (overrides `bind` and MNO_AGENT_BIND; default 127.0.0.1).
    #[arg(long)]
    bind: Option<String>,
    /// Data directory: state store, reports, evidence chain (overrides `data_dir` and
    /// MNO_AGENT_DATA_DIR).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// A directory gate requests may name (repeatable; replaces `allowed_roots` and
    /// MNO_AGENT_ALLOWED_ROOTS; default: the working directory).
    #[arg(long = "allowed-root", value_name = "DIR")]
    allowed_roots: Vec<String>,
}

/// `super-agent config` flags and subcommands.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Configuration file (default: MNO_AGENT_CONFIG, else ./super-agent.yaml if present).
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: ConfigCommand,
}

/// `super-agent config …` subcommands.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check a configuration file: exit 0 when valid, 2 with file:line:column: key: message.
    Validate {
        /// The file to check (default: --config, MNO_AGENT_CONFIG or ./super-agent.yaml).
        file: Option<PathBuf>,
    },
    /// Print the effective configuration (defaults < file < MNO_AGENT_* < flags; token masked).
    Show {
        /// Output format.
        #[arg(long, value_enum, default_value = "yaml")]
        format: ShowFormat,
    },
    /// Print the JSON Schema of super-agent.yaml.
    Schema,
}

/// `config show` output.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ShowFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

fn format_name(f: Option<mno_common::LogFormat>) -> Option<String> {
    f.map(|f| match f {
        mno_common::LogFormat::Text => "text".to_string(),
        mno_common::LogFormat::Json => "json".to_string(),
    })
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// Run `super-agent serve`.
pub fn run_serve(
    args: ServeArgs,
    log_level: Option<String>,
    log_format: Option<mno_common::LogFormat>,
) -> ExitCode {
    let flags = FlagOverrides {
        log_level,
        log_format: format_name(log_format),
        port: args.port,
        bind: args.bind,
        data_dir: args.data_dir,
        allowed_roots: args.allowed_roots,
    };
    let eff = match config::load(args.config.as_deref(), &env, &flags) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let log_warnings = match mno_common::logging::init(&eff.config.log_settings()) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let paths = service::data_paths(&eff.config);
    let note = if paths.fallback {
        format!(" (fallback: {} is not writable)", eff.config.data_dir)
    } else {
        String::new()
    };
    tracing::info!(
        "super-agent {} starting; config: {}; data: {}{}",
        env!("CARGO_PKG_VERSION"),
        eff.source,
        paths.data_dir.display(),
        note
    );
    for w in eff.warnings.iter().chain(log_warnings.iter()) {
        tracing::warn!("{w}");
    }
    super_agent::install_crypto_provider();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get().clamp(2, 4))
        .unwrap_or(2);
    let rt = match crate::multi_thread_runtime(workers) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = rt.block_on(service::serve(&eff, &paths));
    // A gate still running past the shutdown timeout is on a blocking thread: do not wait for it.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            match e {
                service::ServeError::Bind(_)
                | service::ServeError::Setup(_)
                | service::ServeError::Store(_) => ExitCode::from(EXIT_CONFIG),
                service::ServeError::Http(_) => ExitCode::FAILURE,
            }
        }
    }
}

/// Run `super-agent config …`.
pub fn run_config(
    args: ConfigArgs,
    log_level: Option<String>,
    log_format: Option<mno_common::LogFormat>,
) -> ExitCode {
    // `None`: validate; `Some(format)`: show.
    let (file, show) = match args.command {
        ConfigCommand::Schema => return print_json(&config::json_schema()),
        ConfigCommand::Validate { file } => (file.or(args.config), None),
        ConfigCommand::Show { format } => (args.config, Some(format)),
    };
    let flags = FlagOverrides {
        log_level,
        log_format: format_name(log_format),
        ..Default::default()
    };
    let eff: Effective = match config::load(file.as_deref(), &env, &flags) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    for w in &eff.warnings {
        eprintln!("warning: {w}");
    }
    let Some(format) = show else {
        println!("{}: configuration is valid", eff.source);
        return ExitCode::SUCCESS;
    };
    let yaml = match eff.config.to_yaml_masked() {
        Ok(y) => y,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match format {
        ShowFormat::Yaml => {
            println!("# effective configuration (source: {})", eff.source);
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        ShowFormat::Json => match serde_saphyr::from_str::<serde_json::Value>(&yaml) {
            Ok(v) => print_json(&v),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn print_json(v: &serde_json::Value) -> ExitCode {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
