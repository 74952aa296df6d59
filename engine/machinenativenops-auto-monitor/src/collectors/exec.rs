//! `exec`: metrics printed by commands, run every tick.
//!
//! Each command is an argument list run directly (never through a shell), with a cleared
//! environment (as the `command` notifier: `PATH`, `HOME`, the locale, plus the variables
//! named in `env_passthrough`), in its own process group, killed with the group after its
//! timeout. Its standard output is read as the Prometheus text format or as JSON
//! (docs/collectors.md). A command that fails, times out or prints something unparseable is
//! skipped on its own (`mno_exec_success{command} 0`, the reason and line in the log and in
//! `mno_exec_error_line`); the others still run, in parallel.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::promtext::{Merged, parse_json, parse_text};
use super::{CollectError, Collector, Context, Toggle};
use crate::alerts::notify::command::BASE_ENV;
use crate::metrics::Family;

/// What a command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// The Prometheus text format 0.0.4.
    #[default]
    Prometheus,
    /// `[{"name", "value", "labels", "type", "help"}, …]` or `{"metrics": [...]}`.
    Json,
}

/// One command (`collectors.exec.commands[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecCommand {
    /// Name of the command (the `command` label of `mno_exec_*`).
    pub name: String,
    /// Program and arguments, run directly (no shell).
    pub command: Vec<String>,
    /// Seconds before the command (and its process group) is killed.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// How its standard output is read.
    #[serde(default)]
    pub format: OutputFormat,
    /// Environment variables passed through from the agent's environment (the rest is
    /// cleared but for PATH, HOME and the locale).
    #[serde(default)]
    pub env_passthrough: Vec<String>,
}

fn default_timeout() -> f64 {
    10.0
}

/// Settings of the `exec` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExecConfig {
    /// Whether to run the commands (it runs only when there are some).
    pub enabled: bool,
    /// The commands, run every tick in parallel.
    pub commands: Vec<ExecCommand>,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            enabled: true,
            commands: Vec::new(),
        }
    }
}

impl Toggle for ExecConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// Most bytes read from a command's output.
const OUTPUT_LIMIT: u64 = 16 * 1024 * 1024;
/// Most bytes of its standard error kept for the log.
const STDERR_LIMIT: u64 = 4096;

/// Runs the configured commands.
#[derive(Debug)]
pub struct ExecCollector {
    commands: Vec<ExecCommand>,
}

impl ExecCollector {
    /// A collector for `cfg`, checking names, argument lists and timeouts.
    pub fn new(cfg: &ExecConfig) -> Result<ExecCollector, String> {
        let mut names = std::collections::BTreeSet::new();
        for (i, c) in cfg.commands.iter().enumerate() {
            let at = format!("collectors.exec.commands.{i}");
            if c.name.trim().is_empty() {
                return Err(format!("{at}.name: must not be empty"));
            }
            if !names.insert(c.name.as_str()) {
                return Err(format!("{at}.name: duplicate command name {:?}", c.name));
            }
            if c.command.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(format!("{at}.command: must name a program"));
            }
            if !(c.timeout.is_finite() && c.timeout > 0.0) {
                return Err(format!(
                    "{at}.timeout: must be a positive number of seconds (got {})",
                    c.timeout
                ));
            }
        }
        Ok(ExecCollector {
            commands: cfg.commands.clone(),
        })
    }
}

/// Why a run produced no metrics: the message and the output line at fault (0: none).
type RunError = (String, usize);

/// Run one command and return its standard output.
pub fn run(c: &ExecCommand) -> Result<String, RunError> {
    let (prog, args) = c
        .command
        .split_first()
        .ok_or_else(|| ("empty command".to_string(), 0))?;
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear();
    for name in BASE_ENV
        .iter()
        .copied()
        .chain(c.env_passthrough.iter().map(String::as_str))
    {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    if std::env::var_os("PATH").is_none() {
        cmd.env("PATH", "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| (format!("cannot run {prog:?}: {e}"), 0))?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(OUTPUT_LIMIT + 1).read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stderr {
            let _ = (&mut s).take(STDERR_LIMIT).read_to_end(&mut buf);
            // Drain the rest so the command never blocks on a full pipe.
            let _ = std::io::copy(&mut s, &mut std::io::sink());
        }
        buf
    });
    let deadline = Instant::now() + Duration::from_secs_f64(c.timeout);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err((format!("waiting for {prog:?}: {e}"), 0)),
        }
    };
    let Some(status) = status else {
        kill_group(pid);
        let _ = child.kill();
        let _ = child.wait();
        return Err((format!("timed out after {} s", c.timeout), 0));
    };
    // A background process left holding the pipes must not hang the tick: kill the group.
    kill_group(pid);
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        let e = String::from_utf8_lossy(&err);
        return Err((format!("{status}: {}", e.trim()), 0));
    }
    if out.len() as u64 > OUTPUT_LIMIT {
        return Err((format!("output larger than {OUTPUT_LIMIT} bytes"), 0));
    }
    String::from_utf8(out).map_err(|e| (format!("output is not UTF-8: {e}"), 0))
}

fn kill_group(pid: u32) {
    #[cfg(unix)]
    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
    }
}

/// Parse a command's output in its format.
pub fn parse_output(c: &ExecCommand, text: &str) -> Result<Vec<Family>, RunError> {
    let r = match c.format {
        OutputFormat::Prometheus => parse_text(text),
        OutputFormat::Json => parse_json(text),
    };
    r.map_err(|e| {
        let msg = if e.line > 0 {
            format!("output line {}: {}", e.line, e.message)
        } else {
            e.message
        };
        (msg, e.line)
    })
}

impl Collector for ExecCollector {
    fn name(&self) -> &'static str {
        "exec"
    }

    fn collect(&self, _ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let results: Vec<(Result<Vec<Family>, RunError>, f64)> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .commands
                .iter()
                .map(|c| {
                    s.spawn(move || {
                        let t = Instant::now();
                        let r = run(c).and_then(|text| parse_output(c, &text));
                        (r, t.elapsed().as_secs_f64())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| (Err(("panicked".to_string(), 0)), 0.0))
                })
                .collect()
        });
        let mut merged = Merged::default();
        let mut success = Family::gauge(
            "mno_exec_success",
            "Whether the command ran and its output was read (1) or not (0).",
        );
        let mut duration = Family::gauge(
            "mno_exec_duration_seconds",
            "Time the command took on the last tick, in seconds.",
        );
        let mut lines = Family::gauge(
            "mno_exec_error_line",
            "Line of the command's output at fault when it could not be read (0: not a line's fault).",
        );
        for (c, (r, secs)) in self.commands.iter().zip(results) {
            let l = [("command", c.name.as_str())];
            let r = r.and_then(|fams| merged.add(fams).map_err(|e| (e, 0)));
            match r {
                Ok(()) => success.push(&l, 1.0),
                Err((msg, line)) => {
                    tracing::warn!(collector = "exec", command = %c.name, "{msg}; output skipped");
                    success.push(&l, 0.0);
                    lines.push(&l, line as f64);
                }
            }
            duration.push(&l, secs);
        }
        out.extend(merged.into_families());
        super::push_nonempty(out, [success, duration, lines]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(name: &str, argv: &[&str], format: OutputFormat, timeout: f64) -> ExecCommand {
        ExecCommand {
            name: name.into(),
            command: argv.iter().map(|s| s.to_string()).collect(),
            timeout,
            format,
            env_passthrough: vec![],
        }
    }

    #[test]
    fn commands_run_and_fail_on_their_own() {
        let c = ExecCollector::new(&ExecConfig {
            enabled: true,
            commands: vec![
                cmd(
                    "text",
                    &[
                        "sh",
                        "-c",
                        "printf '# TYPE app_q gauge\\napp_q{q=\"a\"} 4\\n'",
                    ],
                    OutputFormat::Prometheus,
                    5.0,
                ),
                cmd(
                    "json",
                    &[
                        "printf",
                        "%s",
                        r#"[{"name":"app_j","value":2,"type":"counter"}]"#,
                    ],
                    OutputFormat::Json,
                    5.0,
                ),
                cmd(
                    "broken",
                    &["printf", "app_a 1\\napp_b{ 2\\n"],
                    OutputFormat::Prometheus,
                    5.0,
                ),
                cmd(
                    "exit3",
                    &["sh", "-c", "echo oops >&2; exit 3"],
                    OutputFormat::Prometheus,
                    5.0,
                ),
                cmd("slow", &["sleep", "30"], OutputFormat::Prometheus, 0.3),
                cmd(
                    "env",
                    &[
                        "sh",
                        "-c",
                        "echo \"app_env_${MNO_SECRET_FOR_TEST:-unset} 1\"",
                    ],
                    OutputFormat::Prometheus,
                    5.0,
                ),
            ],
        })
        .unwrap();
        // The command must not see the agent's environment.
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("MNO_SECRET_FOR_TEST", "leaked") };
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        let t = Instant::now();
        c.collect(&ctx, &mut out).unwrap();
        assert!(t.elapsed() < Duration::from_secs(20));
        let get = |n: &str| out.iter().find(|f| f.name == n);
        assert_eq!(get("app_q").unwrap().value(&[("q", "a")]), Some(4.0));
        assert_eq!(get("app_j").unwrap().value(&[]), Some(2.0));
        assert!(get("app_a").is_none());
        assert!(get("app_env_unset").is_some());
        assert!(get("app_env_leaked").is_none());
        let s = get("mno_exec_success").unwrap();
        for (n, v) in [
            ("text", 1.0),
            ("json", 1.0),
            ("broken", 0.0),
            ("exit3", 0.0),
            ("slow", 0.0),
            ("env", 1.0),
        ] {
            assert_eq!(s.value(&[("command", n)]), Some(v), "{n}");
        }
        let lines = get("mno_exec_error_line").unwrap();
        assert_eq!(lines.value(&[("command", "broken")]), Some(2.0));
        assert_eq!(lines.value(&[("command", "slow")]), Some(0.0));
    }

    #[test]
    fn timeouts_kill_and_errors_are_clear() {
        let r = run(&cmd("s", &["sleep", "30"], OutputFormat::Prometheus, 0.2));
        assert!(r.unwrap_err().0.contains("timed out"));
        let r = run(&cmd(
            "x",
            &["/nonexistent/prog"],
            OutputFormat::Prometheus,
            1.0,
        ));
        assert!(r.unwrap_err().0.contains("cannot run"));
        let r = run(&cmd(
            "e",
            &["sh", "-c", "echo bad >&2; exit 2"],
            OutputFormat::Prometheus,
            5.0,
        ));
        let e = r.unwrap_err().0;
        assert!(e.contains("2") && e.contains("bad"), "{e}");
    }

    #[test]
    fn bad_settings_name_their_key() {
        let mut c = ExecConfig::default();
        c.commands
            .push(cmd("a", &[], OutputFormat::Prometheus, 1.0));
        assert!(
            ExecCollector::new(&c)
                .unwrap_err()
                .starts_with("collectors.exec.commands.0.command")
        );
        c.commands[0] = cmd("a", &["true"], OutputFormat::Prometheus, 0.0);
        assert!(
            ExecCollector::new(&c)
                .unwrap_err()
                .starts_with("collectors.exec.commands.0.timeout")
        );
        c.commands[0].timeout = 1.0;
        c.commands.push(c.commands[0].clone());
        assert!(
            ExecCollector::new(&c)
                .unwrap_err()
                .starts_with("collectors.exec.commands.1.name")
        );
    }
}
