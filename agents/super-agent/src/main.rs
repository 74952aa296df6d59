//! `super-agent`: command-line entry point (parsing only; the work is in the libraries).

mod evidence_cmd;
mod gate_cmd;
mod registry_cmd;
mod serve_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// MachineNativeOps SuperAgent: gate-validation orchestrator and module registry tools.
///
/// Environment: MNO_LOG_LEVEL, MNO_LOG_FORMAT, MNO_REGISTRY (registry file),
/// MNO_RUNTIME_DIR (state of `registry up`), MNO_EVIDENCE_DIR (evidence log),
/// MNO_MONITOR_URL (Auto-Monitor for the gate report).
#[derive(Parser, Debug)]
#[command(name = "super-agent", version, about, long_about)]
struct Cli {
    /// Log level: DEBUG, INFO, WARNING, ERROR, CRITICAL.
    #[arg(long, global = true, value_name = "LEVEL", env = "MNO_LOG_LEVEL")]
    log_level: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, env = "MNO_LOG_FORMAT")]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Command,
}

/// Log line format.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum LogFormatArg {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The module registry (root.modules.yaml): check, plan, graph, up, down, status.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// The gate: schemas, module registry, naming, builds, secrets and workflows; reports for CI.
    Gate {
        #[command(subcommand)]
        command: gate_cmd::GateCommand,
    },
    /// The signed, hash-chained evidence log of gate runs.
    Evidence {
        #[command(subcommand)]
        command: evidence_cmd::EvidenceCommand,
    },
    /// Run the HTTP service (127.0.0.1:8082): messages, gate jobs, incidents, metrics.
    ///
    /// POST /message (GateValidationRequest, GateValidationResponse, IncidentSignal), gate jobs
    /// at /api/v1/gates, GET /incidents, /health, /ready, /metrics (docs/super-agent.md).
    /// Configuration: super-agent.yaml (see `config`); environment:
    /// MNO_AGENT_CONFIG, MNO_AGENT_PORT, MNO_AGENT_BIND, MNO_AGENT_TOKEN, MNO_AGENT_DATA_DIR,
    /// MNO_AGENT_ALLOWED_ROOTS, MNO_AGENT_MONITOR_URL. Stops on SIGTERM/SIGINT after running
    /// gates finish (up to shutdown_timeout).
    Serve(serve_cmd::ServeArgs),
    /// The service configuration (super-agent.yaml): validate, show, schema.
    Config(serve_cmd::ConfigArgs),
}

/// Output format of `check`, `plan` and `status`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Text for people (colored on a terminal).
    Text,
    /// JSON for programs.
    Json,
}

/// Output format of `graph`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormatArg {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// `super-agent registry …` subcommands.
#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Check a registry: exit 0 when valid, 1 when it has errors, 2 when it cannot be read.
    Check {
        /// The registry file (default: MNO_REGISTRY, else ./root.modules.yaml).
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Warnings count as failures too.
        #[arg(long)]
        strict: bool,
    },
    /// Print the load plan: stages in order and, within each, the start steps.
    Plan {
        /// The registry file.
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Draw the dependency graph.
    Graph {
        /// The registry file.
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormatArg,
    },
    /// Start the auto-start modules stage by stage and supervise them until stopped.
    Up {
        /// The registry file.
        file: Option<PathBuf>,
        /// Directory of the state file (default: MNO_RUNTIME_DIR, $XDG_RUNTIME_DIR/machinenativenops
        /// or /tmp/machinenativenops-UID).
        #[arg(long, value_name = "DIR")]
        runtime_dir: Option<PathBuf>,
    },
    /// Stop what `registry up` started, in reverse order.
    Down {
        /// Directory of the state file.
        #[arg(long, value_name = "DIR")]
        runtime_dir: Option<PathBuf>,
        /// Seconds to wait for the supervisor to stop its modules.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Show each module's pid, state, restarts and last health check.
    Status {
        /// Directory of the state file.
        #[arg(long, value_name = "DIR")]
        runtime_dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = cli.log_format.map(|f| match f {
        LogFormatArg::Text => mno_common::LogFormat::Text,
        LogFormatArg::Json => mno_common::LogFormat::Json,
    });
    match cli.command {
        Command::Registry { command } => registry_cmd::run(command, cli.log_level, log_format),
        Command::Gate { command } => gate_cmd::run(command, cli.log_level, log_format),
        Command::Evidence { command } => evidence_cmd::run(command),
        Command::Serve(args) => serve_cmd::run_serve(args, cli.log_level, log_format),
        Command::Config(args) => serve_cmd::run_config(args, cli.log_level, log_format),
    }
}

/// A multi-threaded runtime with `workers` workers; on failure, says so on stderr and gives the
/// exit status.
fn multi_thread_runtime(workers: usize) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}
