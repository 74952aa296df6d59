//! Evidence and the Auto-Monitor section for `super-agent gate run`, and
//! `super-agent evidence verify|rotate|head`: check a signed, hash-chained evidence log
//! against keys the caller trusts, rotate its key, print its head.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use mno_gates::GateReport;
use mno_gates::evidence::{self, CommitBinding, ExpectedHead, VerifyErrorKind};

use crate::Format;

/// Exit status of `evidence verify`: a record was altered, removed, moved or cut short,
/// signed by an untrusted key, or the expected head is missing.
const EXIT_TAMPERED: u8 = 1;
/// Exit status of `evidence verify`: the log or the trusted keys could not be read.
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
    /// The commit this run is meant to check (8 to 40 hex digits): when the checked-out
    /// HEAD differs, the report gets a failing `commit_binding` entry and the evidence
    /// record says UNVERIFIED (verificationResult FAILED).
    #[arg(long, value_name = "SHA")]
    pub commit_sha: Option<String>,
    /// The repository (URL or owner/name) named in the evidence record's resourceUri.
    #[arg(long, value_name = "REPO", env = "GITHUB_REPOSITORY")]
    pub repository: Option<String>,
}

/// `super-agent evidence …` subcommands.
#[derive(Subcommand, Debug)]
pub enum EvidenceCommand {
    /// Check an evidence log against keys you trust: exit 0 valid, 1 tampered (or signed
    /// by an untrusted key, or the expected head missing), 2 unreadable. There is no
    /// default key: evidence.pub beside the log is never trusted, since whoever can
    /// rewrite the log can rewrite it too.
    #[command(group(clap::ArgGroup::new("keys").required(true).multiple(true).args(["pubkey", "policy"])))]
    Verify {
        /// The evidence directory (or its evidence.jsonl, or any JSONL chain such as
        /// `evidence export` writes).
        #[arg(
            value_name = "DIR",
            env = "MNO_EVIDENCE_DIR",
            required_unless_present = "chain"
        )]
        dir: Option<PathBuf>,
        /// The chain file (JSONL) to check, instead of DIR.
        #[arg(long, value_name = "FILE", conflicts_with = "dir")]
        chain: Option<PathBuf>,
        /// A trusted public key (64 hex digits or 32 raw bytes), kept apart from the log;
        /// repeatable. A rotation record signed by a trusted key extends trust to its new key.
        #[arg(long, value_name = "FILE")]
        pubkey: Vec<PathBuf>,
        /// A root.gates.yaml whose `evidence.trusted_keys` lists the trusted public keys
        /// (the repository's policy, e.g. from a checkout you trust).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// The head published elsewhere: HASH:COUNT (a report's evidence_chain, `gate run`
        /// or `evidence head` output, the state store), HASH, or :COUNT (the count alone,
        /// as /metrics' mno_agent_evidence_records has it). Records removed from the end
        /// are then detected and named.
        #[arg(long, value_name = "[HASH][:COUNT]")]
        expect_head: Option<ExpectedHead>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Replace the signing key: append a record signed by the current key that announces
    /// a fresh one, which signs from then on. Prints the new public key to publish.
    Rotate {
        /// The evidence directory.
        #[arg(value_name = "DIR", env = "MNO_EVIDENCE_DIR")]
        dir: PathBuf,
    },
    /// Create the signing key of a new evidence directory (evidence.key, mode 0600, and
    /// evidence.pub) and print its public key; refuses to replace a key (see `rotate`).
    Keygen {
        /// The evidence directory (the server's is <data_dir>/evidence).
        #[arg(value_name = "DIR", env = "MNO_EVIDENCE_DIR")]
        dir: PathBuf,
    },
    /// Write the evidence chain kept in Redis (`store: redis`) as JSONL, the format of
    /// evidence.jsonl, for `evidence verify --chain FILE`.
    Export {
        /// The Redis URL (redis://[user[:password]@]host:port, rediss:// for TLS).
        #[arg(long, env = "MNO_REDIS_URL", value_name = "URL")]
        redis_url: String,
        /// The servers' `redis.key_prefix`.
        #[arg(long, default_value = "mno")]
        key_prefix: String,
        /// The chain's signing key id (the `keyid` of its records); needed when Redis holds
        /// several servers' chains.
        #[arg(long, value_name = "KEYID")]
        key_id: Option<String>,
        /// Where to write (default: standard output).
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print the chain head (HASH:COUNT) to anchor elsewhere. Not a verification.
    Head {
        /// The evidence directory.
        #[arg(value_name = "DIR", env = "MNO_EVIDENCE_DIR")]
        dir: PathBuf,
    },
}

/// Before the reports are written: compare the checked-out HEAD with `--commit-sha` (a
/// mismatch adds a failing `commit_binding` result) and put the chain head in the report.
pub fn prepare(root: &Path, report: &mut GateReport, args: &GateEvidenceArgs) -> CommitBinding {
    let binding = evidence::statement::commit_binding(root, args.commit_sha.as_deref());
    evidence::statement::apply_commit_binding(report, &binding);
    if let Some(dir) = &args.evidence_log {
        match super_agent::open_evidence_chain(dir).and_then(|c| c.head()) {
            Ok(h) => report.evidence_chain = Some(h),
            Err(e) => eprintln!("warning: evidence chain head: {e}"),
        }
    }
    binding
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
    binding: &CommitBinding,
    report_files: &[String],
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
        let chain = super_agent::open_evidence_chain(dir).map_err(|e| e.to_string())?;
        let facts = evidence::RunFacts::of_run(
            &validation_id(),
            report,
            &ev,
            root,
            args.repository.as_deref(),
            binding.clone(),
            out,
            report_files,
        );
        let rec = chain.attest(&facts).map_err(|e| e.to_string())?;
        if let Some(reason) = &binding.reason {
            lines.push(format!("evidence UNVERIFIED: {reason}"));
        }
        lines.push(format!(
            "evidence record {} appended to {} (hash {}, key {}, verificationResult {})",
            rec.seq,
            chain.log_path().display(),
            rec.hash,
            rec.key_id,
            facts.verification_result()
        ));
        lines.push(format!("evidence chain head {}:{}", rec.hash, rec.seq));
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
            chain,
            pubkey,
            policy,
            expect_head,
            format,
        } => match (trusted_keys(&pubkey, policy.as_deref()), chain.or(dir)) {
            (Ok(keys), Some(dir)) => verify(&dir, &keys, expect_head.as_ref(), format),
            (Ok(_), None) => {
                eprintln!("error: name the chain: DIR or --chain FILE");
                ExitCode::from(EXIT_UNREADABLE)
            }
            (Err(e), _) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_UNREADABLE)
            }
        },
        EvidenceCommand::Keygen { dir } => match evidence::keygen(&dir) {
            Ok(vk) => {
                println!("{}", hex::encode(vk.as_bytes()));
                eprintln!(
                    "created {} (keep it secret) and {}; key id {}",
                    dir.join(evidence::KEY_FILE).display(),
                    dir.join(evidence::PUB_FILE).display(),
                    evidence::key_id(&vk)
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_UNREADABLE)
            }
        },
        EvidenceCommand::Export {
            redis_url,
            key_prefix,
            key_id,
            out,
        } => export(&redis_url, &key_prefix, key_id.as_deref(), out.as_deref()),
        EvidenceCommand::Rotate { dir } => rotate(&dir),
        EvidenceCommand::Head { dir } => match evidence::read_head(&dir.join(evidence::LOG_FILE)) {
            Ok(h) => {
                println!("{h}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_UNREADABLE)
            }
        },
    }
}

/// `evidence export`: the chain's records from Redis, in order, as JSONL.
fn export(url: &str, prefix: &str, key_id: Option<&str>, out: Option<&Path>) -> ExitCode {
    super_agent::install_crypto_provider();
    let cfg = mno_redis::RedisConfig {
        url: Some(url.to_string()),
        key_prefix: prefix.to_string(),
        ..Default::default()
    };
    let result = (|| -> Result<(String, Vec<String>), String> {
        let store = super_agent::state::RedisStore::open(&cfg).map_err(|e| e.to_string())?;
        let kid = match key_id {
            Some(k) => k.to_string(),
            None => {
                let mut ids = store.evidence_chains().map_err(|e| e.to_string())?;
                match ids.len() {
                    1 => ids.remove(0),
                    0 => {
                        return Err(format!(
                            "{}: no evidence chain is kept there",
                            cfg.shown_url()
                        ));
                    }
                    _ => {
                        return Err(format!(
                            "several chains are kept there; name one with --key-id: {}",
                            ids.join(", ")
                        ));
                    }
                }
            }
        };
        use super_agent::StateStore as _;
        let lines = store.evidence_records(&kid).map_err(|e| e.to_string())?;
        Ok((kid, lines))
    })();
    let (kid, lines) = match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNREADABLE);
        }
    };
    let mut text = String::new();
    for l in &lines {
        text.push_str(l);
        text.push('\n');
    }
    let written = match out {
        Some(p) => std::fs::write(p, &text).map_err(|e| format!("{}: {e}", p.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    };
    match written {
        Ok(()) => {
            eprintln!("{} record(s) of chain {kid}", lines.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
}

/// The keys from `--pubkey` files and `--policy`'s `evidence.trusted_keys`.
fn trusted_keys(
    files: &[PathBuf],
    policy: Option<&Path>,
) -> Result<Vec<evidence::VerifyingKey>, String> {
    let mut keys = Vec::new();
    for f in files {
        keys.push(evidence::read_public_key(f).map_err(|e| format!("public key: {e}"))?);
    }
    if let Some(p) = policy {
        let loaded = mno_common::load_file::<mno_gates::GatesConfig>(p)
            .map_err(|e| format!("policy: {e}"))?;
        let listed = &loaded.value.evidence.trusted_keys;
        if listed.is_empty() {
            return Err(format!(
                "{}: evidence.trusted_keys is empty: no key to trust",
                p.display()
            ));
        }
        for (i, k) in listed.iter().enumerate() {
            keys.push(
                evidence::parse_public_key(k)
                    .map_err(|e| format!("{}: evidence.trusted_keys[{i}]: {e}", p.display()))?,
            );
        }
    }
    Ok(keys)
}

fn rotate(dir: &Path) -> ExitCode {
    if !dir.join(evidence::KEY_FILE).is_file() {
        eprintln!(
            "error: {}: no signing key to rotate from",
            dir.join(evidence::KEY_FILE).display()
        );
        return ExitCode::from(EXIT_UNREADABLE);
    }
    let chain = match super_agent::open_evidence_chain(dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNREADABLE);
        }
    };
    match chain.rotate() {
        Ok((rec, new)) => {
            println!(
                "rotated: record {} signed by key {} announces key {}",
                rec.seq,
                rec.key_id,
                evidence::key_id(&new)
            );
            println!(
                "new public key (publish it): {}",
                hex::encode(new.as_bytes())
            );
            println!("evidence chain head {}:{}", rec.hash, rec.seq);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
}

fn verify(
    dir: &Path,
    keys: &[evidence::VerifyingKey],
    expect: Option<&ExpectedHead>,
    format: Format,
) -> ExitCode {
    let log = if dir.is_file() {
        dir.to_path_buf()
    } else {
        dir.join(evidence::LOG_FILE)
    };
    let result = evidence::verify_with(&log, keys, expect);
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
                    "valid: {} records in {}, last seq {}, last hash {}, key {}{}{}{}",
                    s.records,
                    log.display(),
                    s.last_seq,
                    s.last_hash,
                    s.key_id,
                    s.last_timestamp
                        .map(|t| format!(", last at {t}"))
                        .unwrap_or_default(),
                    if s.rotations > 0 {
                        format!(", {} key rotation(s)", s.rotations)
                    } else {
                        String::new()
                    },
                    if s.head_checked {
                        ", expected head present"
                    } else {
                        ""
                    },
                );
                if s.failed_results > 0 {
                    println!(
                        "note: {} record(s) say verificationResult FAILED (a failed gate or an UNVERIFIED commit)",
                        s.failed_results
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.kind == VerifyErrorKind::Unreadable => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_UNREADABLE)
        }
        Err(e) => {
            if format == Format::Text {
                let what = match e.kind {
                    VerifyErrorKind::Untrusted => "UNTRUSTED",
                    VerifyErrorKind::Truncated => "TRUNCATED",
                    _ => "TAMPERED",
                };
                println!("{what}: {}:{}: {}", log.display(), e.line, e.reason);
            }
            ExitCode::from(EXIT_TAMPERED)
        }
    }
}
