//! Evidence and the Auto-Monitor section for `super-agent gate run`, and
//! `super-agent evidence verify`: check a signed, hash-chained evidence log.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use mno_gates::GateReport;
use mno_gates::evidence::{self, EvidenceChain, VerifyErrorKind};

use crate::Format;

/// Exit status of `evidence verify`: a record was altered, removed, moved or cut short.
const EXIT_TAMPERED: u8 = 1;
/// Exit status of `evidence verify`: the log or the public key could not be read.
const EXIT_UNREADABLE: u8 = 2;

/// `gate run` options for the monitor section and the evidence log.
#[derive(Args, Debug, Clone, Default)]
pub struct GateEvidenceArgs {
    /// Append a signed record to the evidence log in DIR (created, with its key, on first use).
    #[arg(
        long,
        value_name = "DIR",
        env = "MNO_EVIDENCE_DIR",
        conflicts_with = "no_evidence"
    )]
    pub evidence_log: Option<PathBuf>,
    /// Do not write evidence.json: skips re-reading and hashing every scanned file (on a
    /// large tree that costs more than the scan itself).
    #[arg(long)]
    pub no_evidence: bool,
    /// Include the Auto-Monitor's health, usage and active alerts (e.g. http://127.0.0.1:8000).
    #[arg(long, value_name = "URL", env = "MNO_MONITOR_URL")]
    pub monitor_url: Option<String>,
    /// Seconds to wait for each request to the Auto-Monitor.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub monitor_timeout: u64,
}

/// `super-agent evidence …` subcommands.
#[derive(Subcommand, Debug)]
pub enum EvidenceCommand {
    /// Check an evidence log: exit 0 valid, 1 tampered, 2 unreadable.
    Verify {
        /// The evidence directory (or its evidence.jsonl).
        #[arg(value_name = "DIR", env = "MNO_EVIDENCE_DIR")]
        dir: PathBuf,
        /// The public key to check against (default: evidence.pub beside the log). Pass a
        /// copy kept elsewhere: whoever can rewrite the log can rewrite evidence.pub too.
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

/// Fill in the report's Auto-Monitor section when a URL is given (never fails the gate).
pub fn attach_monitor(report: &mut GateReport, args: &GateEvidenceArgs) {
    let Some(url) = args.monitor_url.as_deref().filter(|u| !u.is_empty()) else {
        return;
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warning: no runtime for the monitor request: {e}");
            return;
        }
    };
    let timeout = Duration::from_secs(args.monitor_timeout.max(1));
    report.monitor = Some(rt.block_on(mno_gates::monitor::fetch(url, timeout)));
}

/// Write `evidence.json` into `out` and append to the evidence log when one is configured;
/// returns the lines to print.
pub fn record(
    root: &Path,
    out: &Path,
    report: &GateReport,
    args: &GateEvidenceArgs,
) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    if let Some(m) = &report.monitor {
        lines.push(monitor_line(m));
    }
    if args.no_evidence {
        return Ok(lines);
    }
    let ev = evidence::digest(root, report).map_err(|e| format!("evidence digest: {e}"))?;
    let path = out.join("evidence.json");
    std::fs::write(&path, evidence::manifest_json(&ev, report))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    lines.push(format!(
        "evidence sha256 {} ({} files, {} bytes)",
        ev.sha256, ev.files, ev.bytes
    ));
    lines.push(format!("wrote {}", path.display()));
    if let Some(dir) = &args.evidence_log {
        let chain = EvidenceChain::open(dir).map_err(|e| e.to_string())?;
        let rec = chain
            .append(&validation_id(), report.overall_status, &ev)
            .map_err(|e| e.to_string())?;
        lines.push(format!(
            "evidence record {} appended to {} (hash {}, key {})",
            rec.seq,
            chain.log_path().display(),
            rec.hash,
            rec.key_id
        ));
    }
    Ok(lines)
}

fn monitor_line(m: &mno_gates::MonitorSection) -> String {
    if !m.reachable {
        return format!(
            "monitor {} unreachable: {}",
            m.url,
            m.error.as_deref().unwrap_or("no answer")
        );
    }
    let pct = |v: Option<f64>| {
        v.map(|x| format!("{x:.1}%"))
            .unwrap_or_else(|| "n/a".into())
    };
    format!(
        "monitor {} {}: cpu {}, memory {}, disk {}, {} active alerts{}",
        m.url,
        m.health.as_ref().map(|h| h.status.as_str()).unwrap_or("?"),
        pct(m.cpu_usage_percent),
        pct(m.memory_usage_percent),
        pct(m.disk_usage_percent),
        m.active_alerts.len(),
        m.error
            .as_deref()
            .map(|e| format!(" (warning: {e})"))
            .unwrap_or_default()
    )
}

/// A random id for a validation started from the command line.
fn validation_id() -> String {
    let mut r = [0u8; 8];
    let _ = getrandom::fill(&mut r);
    format!("cli-{}", hex::encode(r))
}

/// Run one evidence subcommand.
pub fn run(cmd: EvidenceCommand) -> ExitCode {
    match cmd {
        EvidenceCommand::Verify {
            dir,
            pubkey,
            format,
        } => verify(&dir, pubkey.as_deref(), format),
    }
}

fn verify(dir: &Path, pubkey: Option<&Path>, format: Format) -> ExitCode {
    let (log, default_pub) = if dir.is_file() {
        let parent = dir.parent().unwrap_or(Path::new("."));
        (dir.to_path_buf(), parent.join(evidence::PUB_FILE))
    } else {
        (dir.join(evidence::LOG_FILE), dir.join(evidence::PUB_FILE))
    };
    let key = match evidence::read_public_key(pubkey.unwrap_or(&default_pub)) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: public key: {e}");
            return ExitCode::from(EXIT_UNREADABLE);
        }
    };
    let result = evidence::verify(&log, &key);
    if format == Format::Json {
        let v = match &result {
            Ok(s) => serde_json::json!({"valid": true, "log": log, "summary": s}),
            Err(e) => serde_json::json!({"valid": false, "log": log, "error": e}),
        };
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    match result {
        Ok(s) => {
            if format == Format::Text {
                println!(
                    "valid: {} records in {}, last seq {}, last hash {}, key {}{}",
                    s.records,
                    log.display(),
                    s.last_seq,
                    s.last_hash,
                    s.key_id,
                    s.last_timestamp
                        .map(|t| format!(", last at {t}"))
                        .unwrap_or_default()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.kind == VerifyErrorKind::Unreadable => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_UNREADABLE)
        }
        Err(e) => {
            if format == Format::Text {
                println!("TAMPERED: {}:{}: {}", log.display(), e.line, e.reason);
            }
            ExitCode::from(EXIT_TAMPERED)
        }
    }
}
