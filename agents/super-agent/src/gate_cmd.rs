//! `super-agent gate …`: run the gate over a tree without a server and map its status to an exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mno_gates::{GateReport, ReportFormat, Status};

use clap::{Subcommand, ValueEnum};

/// Exit status: a check failed.
const EXIT_FAILED: u8 = 1;
/// Exit status: the gate or a check could not run.
const EXIT_ERROR: u8 = 2;

/// `super-agent gate …` subcommands.
// Parsed once per process: the size of the `run` variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum GateCommand {
    /// Run the gate over a tree and write reports: exit 0 passed, 1 failed, 2 error.
    Run {
        /// The repository root (its root.gates.yaml configures the checks).
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Folder for report.json, report.md, report.sarif and junit.xml.
        #[arg(long, value_name = "DIR", default_value = "gate-report")]
        out: PathBuf,
        /// Checks to run, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        checks: Vec<String>,
        /// Reports to write, comma-separated (default: all).
        #[arg(long, value_enum, value_delimiter = ',')]
        format: Vec<ReportFormatArg>,
        /// Base URL for file links in report.md (default in GitHub Actions: the commit's blob URL).
        #[arg(long, value_name = "URL")]
        link_base: Option<String>,
        /// Diff mode: report only secrets on lines added or changed since this git revision
        /// (working tree vs REV, untracked files included).
        #[arg(long, value_name = "REV")]
        since: Option<String>,
        /// Let .gitignore, .ignore and global excludes hide files from the secret scan (the
        /// old walk; also `security_scan.respect_ignore: true`). By default a git repository's
        /// tracked files are all scanned whatever its ignore files say, plus untracked files
        /// that are not ignored; outside git, every file (hidden ones too, `.git` aside).
        /// Files not scanned (binary, over max_file_size, unreadable) are reported as notes
        /// (a warning for a tracked file over max_file_size); UTF-16 text is decoded.
        #[arg(long)]
        respect_ignore: bool,
        /// Evidence log and Auto-Monitor section.
        #[command(flatten)]
        evidence: crate::evidence_cmd::GateEvidenceArgs,
        /// What build commands may see.
        #[command(flatten)]
        sandbox: Box<SandboxArgs>,
        /// Proposed fixes: patches under `<out>/patches/`, applied only with `--apply`.
        #[command(flatten)]
        fix: Box<FixArgs>,
    },
    /// Accept every secret found now: (re)write the security baseline named in root.gates.yaml.
    Baseline {
        /// The repository root.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
}

/// `gate run` options for `build_verification`'s sandbox: builds get a cleared environment
/// and, with Landlock, no access to the evidence log (and its key) or the paths named here.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SandboxArgs {
    /// A path build commands may not read, list or write (repeatable); the
    /// `--evidence-log` folder always is.
    #[arg(long = "protect", value_name = "PATH")]
    pub protect: Vec<PathBuf>,
    /// An environment variable passed through to build commands (repeatable); they get only
    /// PATH, the locale, a scratch HOME and TMPDIR, CARGO_HOME and RUSTUP_HOME otherwise.
    #[arg(long = "build-env", value_name = "NAME")]
    pub build_env: Vec<String>,
    /// A folder build commands may write besides the repository, HOME, /tmp, /dev and cargo's
    /// download caches (repeatable).
    #[arg(long = "build-writable", value_name = "DIR")]
    pub build_writable: Vec<PathBuf>,
    /// Refuse to build when the kernel has no Landlock (the check is ERROR).
    #[arg(long)]
    pub require_sandbox: bool,
}

impl SandboxArgs {
    /// The sandbox for this run: these options plus the evidence log folder.
    fn to_sandbox(
        &self,
        evidence: &crate::evidence_cmd::GateEvidenceArgs,
    ) -> mno_gates::BuildSandbox {
        let mut protected = self.protect.clone();
        protected.extend(evidence.evidence_log.clone());
        mno_gates::BuildSandbox {
            protected,
            env_passthrough: self.build_env.clone(),
            writable: self.build_writable.clone(),
            require: self.require_sandbox,
        }
    }
}

/// `gate run` options for auto-fix (docs/autofix.md).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FixArgs {
    /// Propose fixes: each patch is tried on a copy of the tree (`git apply --check`, then the
    /// finding's check again) and written to `<out>/patches/NNN-<fixer>-<file>.patch`; the
    /// reports get a "proposed fixes" section. The tree is not changed.
    #[arg(long)]
    pub fix: bool,
    /// Apply the proposed patches to the tree, in order, after the reports are written
    /// (implies --fix). Run the gate again to see the result.
    #[arg(long)]
    pub apply: bool,
    /// Folder of git clones of actions (`<owner>/<repo>.git`): unpinned `uses:` are pinned to
    /// the commit their tag names there. Nothing is fetched.
    #[arg(long, value_name = "DIR", env = "MNO_AUTOFIX_ACTIONS_MIRROR")]
    pub actions_mirror: Option<PathBuf>,
    /// OpenAI-compatible chat-completions URL for the AI fixer (off when unset); its patches
    /// pass the same trial and are marked AI-proposed.
    #[arg(long, value_name = "URL", env = "MNO_AUTOFIX_LLM_ENDPOINT")]
    pub llm_endpoint: Option<String>,
    /// The model the AI fixer asks.
    #[arg(long, value_name = "NAME", env = "MNO_AUTOFIX_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// The environment variable holding the AI fixer's API key.
    #[arg(long, value_name = "VAR", default_value = "MNO_AUTOFIX_LLM_KEY")]
    pub llm_key_env: String,
    /// Seconds one AI request may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub llm_timeout: f64,
    /// At most this many findings are sent to the AI fixer.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub llm_max_findings: usize,
}

impl FixArgs {
    fn to_config(&self) -> mno_gates::AutofixConfig {
        let mut c = mno_gates::AutofixConfig {
            enabled: self.fix || self.apply,
            actions_mirror: self
                .actions_mirror
                .as_ref()
                .map(|p| p.display().to_string()),
            ..Default::default()
        };
        c.llm.endpoint = self.llm_endpoint.clone();
        if let Some(m) = &self.llm_model {
            c.llm.model = m.clone();
        }
        c.llm.api_key_env = self.llm_key_env.clone();
        c.llm.timeout = self.llm_timeout;
        c.llm.max_findings = self.llm_max_findings;
        c
    }
}

/// A report file kind.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormatArg {
    /// report.json
    Json,
    /// report.md
    Markdown,
    /// report.sarif
    Sarif,
    /// junit.xml
    Junit,
}

impl ReportFormatArg {
    fn to_format(self) -> mno_gates::ReportFormat {
        match self {
            ReportFormatArg::Json => mno_gates::ReportFormat::Json,
            ReportFormatArg::Markdown => mno_gates::ReportFormat::Markdown,
            ReportFormatArg::Sarif => mno_gates::ReportFormat::Sarif,
            ReportFormatArg::Junit => mno_gates::ReportFormat::Junit,
        }
    }
}

/// Run one gate subcommand.
pub fn run(
    cmd: GateCommand,
    log_level: Option<String>,
    log_format: Option<mno_common::LogFormat>,
) -> ExitCode {
    let settings = mno_common::LogSettings {
        level: log_level.unwrap_or_else(|| "WARNING".into()),
        format: log_format.unwrap_or_default(),
        file: None,
        max_size: 10 << 20,
        backup_count: 1,
    };
    if let Err(e) = mno_common::logging::init(&settings) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_ERROR);
    }
    match cmd {
        GateCommand::Run {
            path,
            out,
            checks,
            format,
            link_base,
            evidence,
            since,
            sandbox,
            respect_ignore,
            fix,
        } => {
            let sb = sandbox.to_sandbox(&evidence);
            gate_run(
                &path,
                &out,
                &checks,
                &format,
                link_base,
                &evidence,
                GateRunScan {
                    since,
                    respect_ignore,
                },
                sb,
                &fix,
            )
        }
        GateCommand::Baseline { path } => baseline(&path),
    }
}

/// How `gate run` asks the secret scan to choose its files.
struct GateRunScan {
    since: Option<String>,
    respect_ignore: bool,
}

#[allow(clippy::too_many_arguments)] // one per `gate run` option group
fn gate_run(
    root: &Path,
    out: &Path,
    checks: &[String],
    format: &[ReportFormatArg],
    link_base: Option<String>,
    evidence: &crate::evidence_cmd::GateEvidenceArgs,
    scan: GateRunScan,
    build_sandbox: mno_gates::BuildSandbox,
    fix: &FixArgs,
) -> ExitCode {
    let own = own_output(root, out);
    let opts = mno_gates::parse_checks(checks).map(|checks| mno_gates::GateOptions {
        checks,
        since: scan.since,
        progress: Some(progress::stderr_hook()),
        build_sandbox,
        respect_ignore: scan.respect_ignore,
        own_output: own.clone().into_iter().collect(),
    });
    let mut report = match opts.and_then(|o| mno_gates::run_gate_with(root, &o)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let formats: Vec<ReportFormat> = if format.is_empty() {
        ReportFormat::ALL.to_vec()
    } else {
        format.iter().map(|f| f.to_format()).collect()
    };
    crate::evidence_cmd::attach_monitor(&mut report, evidence);
    let autofix = fix.to_config();
    if autofix.enabled {
        report.fixes = Some(propose_fixes(root, &report, &autofix, own));
    }
    let binding = crate::evidence_cmd::prepare(root, &mut report, evidence);
    if let Err(e) = create_out_dir(out) {
        eprintln!("error: {}: {e}", out.display());
        return ExitCode::from(EXIT_ERROR);
    }
    let link_base = link_base.or_else(github_link_base);
    match mno_gates::write_reports(&report, out, &formats, link_base.as_deref()) {
        Ok(files) => {
            print_summary(&report);
            for f in &files {
                println!("wrote {}", f.display());
            }
            if let Some(section) = &report.fixes {
                match mno_gates::autofix::write_patches(section, out) {
                    Ok(patches) => print_fixes(section, &patches),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(EXIT_ERROR);
                    }
                }
            }
            let names: Vec<String> = files
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            match crate::evidence_cmd::record(root, out, &report, evidence, &binding, &names) {
                Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_ERROR);
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    }
    // Applied last: the reports and the evidence describe the tree the checks read.
    if fix.apply
        && let Some(section) = &report.fixes
    {
        match mno_gates::autofix::apply(root, section) {
            Ok(ids) => println!(
                "applied {} patches to {}; run the gate again to check the result",
                ids.len(),
                root.display()
            ),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_ERROR);
            }
        }
    }
    match report.overall_status {
        Status::Passed | Status::Skipped => ExitCode::SUCCESS,
        Status::Failed => ExitCode::from(EXIT_FAILED),
        Status::Error => ExitCode::from(EXIT_ERROR),
    }
}

/// Run the fixers over `report`'s findings (the AI fixer's key from its environment variable).
fn propose_fixes(
    root: &Path,
    report: &GateReport,
    autofix: &mno_gates::AutofixConfig,
    own: Option<String>,
) -> mno_gates::FixesSection {
    let cfg = match mno_gates::load_config(root) {
        Ok(c) => c.config,
        Err(e) => {
            return mno_gates::FixesSection {
                notes: vec![format!("no fixes: {e}")],
                ..Default::default()
            };
        }
    };
    let opts = mno_gates::FixOptions {
        llm_api_key: std::env::var(&autofix.llm.api_key_env)
            .ok()
            .filter(|k| !k.is_empty()),
        own_output: own.into_iter().collect(),
    };
    mno_gates::autofix::propose(root, report, &cfg, autofix, &opts)
}

fn print_fixes(section: &mno_gates::FixesSection, patches: &[PathBuf]) {
    println!("proposed fixes: {}", section.proposed.len());
    for (p, file) in section.proposed.iter().zip(patches) {
        let ai = if p.ai_proposed { " [AI-proposed]" } else { "" };
        println!(
            "  {} {}{ai}: {} ({})",
            p.id,
            p.fixer,
            p.title,
            file.display()
        );
        if let Some(n) = &p.note {
            println!("      note: {n}");
        }
    }
    for u in &section.unfixed {
        println!(
            "  not fixed: {}:{} {} ({}): {}",
            u.file, u.line, u.rule_id, u.fixer, u.reason
        );
    }
    for n in &section.notes {
        println!("  note: {n}");
    }
}

/// The report folder relative to `root` when it lies inside it: the secret scan leaves its
/// untracked files alone (outside git no ignore file would keep the next run from scanning
/// this run's reports).
fn own_output(root: &Path, out: &Path) -> Option<String> {
    let abs = |p: &Path| std::path::absolute(p).ok();
    let (root, out) = (abs(root)?, abs(out)?);
    let rel = out.strip_prefix(&root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Create the report folder; a new one gets a `.gitignore` of `*`.
///
/// The default `--out gate-report` lies inside the repository being checked: without
/// this, git would see the reports as untracked files (`--since` would count them as
/// changes); the secret scan also skips the folder's untracked files explicitly. An existing
/// folder is left as it is (it may be one the user keeps under version control).
fn create_out_dir(out: &Path) -> std::io::Result<()> {
    if out.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join(".gitignore"),
        "# Written by `super-agent gate run`: gate reports are build output.\n*\n",
    )
}

fn print_summary(report: &GateReport) {
    for r in report.validation_results.values() {
        let detail = r
            .detail
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        println!(
            "{:<20} {:<8} {:>5} findings {:>6} ms{detail}",
            r.check,
            r.status.as_str(),
            r.findings.len(),
            r.duration_ms
        );
    }
    // Notes (files the secret scan could not read, …) can number in the hundreds: the
    // first few are shown, all are in the reports.
    let mut notes = 0usize;
    for f in report.findings() {
        if f.severity == mno_gates::Severity::Note {
            notes += 1;
            if notes > MAX_NOTES_SHOWN {
                continue;
            }
        }
        println!(
            "  {}:{}:{}: {}[{}/{}]: {}",
            f.file,
            f.line,
            f.column,
            f.severity.as_str(),
            f.check,
            f.rule_id,
            f.message
        );
    }
    if notes > MAX_NOTES_SHOWN {
        println!(
            "  … and {} more notes in the reports",
            notes - MAX_NOTES_SHOWN
        );
    }
    println!("gate {}", report.overall_status.as_str());
}

/// Notes printed to the terminal before the rest are only counted.
const MAX_NOTES_SHOWN: usize = 20;

/// `https://github.com/OWNER/REPO/blob/SHA` when running in GitHub Actions.
fn github_link_base() -> Option<String> {
    let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
    Some(format!(
        "{}/{}/blob/{}",
        var("GITHUB_SERVER_URL")?,
        var("GITHUB_REPOSITORY")?,
        var("GITHUB_SHA")?
    ))
}

/// Accept every current secret finding: write the baseline file named in root.gates.yaml.
fn baseline(root: &Path) -> ExitCode {
    let run = || -> Result<(PathBuf, usize), String> {
        let cfg = mno_gates::load_config(root).map_err(|e| e.to_string())?;
        // Scans without the old baseline's entries (so still-present accepted secrets stay
        // accepted) but with its salt, and never reads the baseline file itself.
        let b = mno_gates::checks::security::build_baseline(root, &cfg.config.security_scan)
            .map_err(|e| e.to_string())?;
        let path = root.join(&cfg.config.security_scan.baseline);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(&b).map_err(|e| e.to_string())? + "\n";
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((path, b.entries.len()))
    };
    match run() {
        Ok((path, n)) => {
            println!("wrote {} ({n} accepted secrets)", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Progress of long checks on stderr: a bar on a terminal, a plain line every few seconds
/// (and at the end) otherwise. Only counts are shown, never file contents.
mod progress {
    use std::io::IsTerminal;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use mno_gates::{Progress, ProgressEvent};

    /// Least time between two plain progress lines.
    const PLAIN_EVERY: Duration = Duration::from_secs(5);

    /// The hook for `gate run`.
    pub fn stderr_hook() -> Progress {
        if std::io::stderr().is_terminal() {
            bar()
        } else {
            plain()
        }
    }

    /// `security_scan: 1234 files, 56.7 MB scanned`
    pub fn line(e: &ProgressEvent) -> String {
        format!(
            "{}: {} files, {:.1} MB scanned",
            e.check,
            e.files,
            e.bytes as f64 / 1e6
        )
    }

    fn plain() -> Progress {
        let last = Mutex::new(Instant::now());
        Progress::new(move |e| {
            let Ok(mut last) = last.lock() else { return };
            if e.done || last.elapsed() >= PLAIN_EVERY {
                *last = Instant::now();
                eprintln!("{}", line(e));
            }
        })
    }

    fn bar() -> Progress {
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let spinner = ProgressStyle::with_template("{spinner} {prefix}: {pos} files, {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = ProgressStyle::with_template(
            "{prefix}: [{wide_bar}] {pos}/{len} files, {msg} ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        pb.set_style(spinner);
        let hook = Progress::new(move |e| {
            pb.set_prefix(e.check);
            if let Some(total) = e.total_files
                && pb.length() != Some(total)
            {
                pb.set_style(bar.clone());
                pb.set_length(total);
            }
            pb.set_position(e.files);
            pb.set_message(format!("{:.1} MB", e.bytes as f64 / 1e6));
            if e.done {
                pb.finish_and_clear();
                eprintln!("{}", line(e));
            } else {
                pb.tick();
            }
        });
        // The total (a second, cheap walk of the tree) turns the spinner into a bar.
        hook.with_total()
    }
}
