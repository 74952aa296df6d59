//! Running a configured program: an argument list executed directly (never through a shell),
//! with data on stdin and in `MNO_ALERT_*` variables, a timeout that kills its whole process
//! group, and the exit status recorded. Used by the `command` notifier and repair commands.
//!
//! The program does not inherit the monitor's environment (which may hold `MNO_API_TOKEN`,
//! `MNO_AGENT_TOKEN`, Redis passwords): it gets [`BASE_ENV`] when set, the variables its
//! notifier or strategy lists in `env_passthrough`, and the `MNO_ALERT_*` variables.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Most output kept from a run.
const OUTPUT_LIMIT: usize = 16 * 1024;

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Exit code (`None` when killed by a signal or timed out).
    pub exit_code: Option<i32>,
    /// Exited with status 0.
    pub success: bool,
    /// Killed after the timeout.
    pub timed_out: bool,
    /// The start of stdout and stderr.
    pub output: String,
    /// Wall time.
    pub duration: Duration,
}

impl Outcome {
    /// `success`, `failure` or `timeout` (the `result` label of metrics).
    pub fn result(&self) -> &'static str {
        if self.timed_out {
            "timeout"
        } else if self.success {
            "success"
        } else {
            "failure"
        }
    }
}

/// Variables a command always gets from the monitor's environment, when set: where programs
/// are, the user's home and the locale.
pub const BASE_ENV: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ"];

/// `PATH` when the monitor itself has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Strip NUL bytes, which cannot be passed in an argument or variable.
pub fn clean(s: &str) -> String {
    s.replace('\0', "")
}

/// An environment variable name for a label: `MNO_ALERT_LABEL_` + upper-cased, `_` for
/// anything not alphanumeric.
pub fn label_var(name: &str) -> String {
    let mut v = String::from("MNO_ALERT_LABEL_");
    v.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    v
}

fn collect<R: AsyncRead + Unpin + Send + 'static>(
    r: Option<R>,
    buf: Arc<Mutex<Vec<u8>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut r) = r else { return };
        let mut chunk = [0u8; 4096];
        loop {
            match r.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut b) = buf.lock()
                        && b.len() < OUTPUT_LIMIT
                    {
                        let room = OUTPUT_LIMIT - b.len();
                        b.extend_from_slice(&chunk[..n.min(room)]);
                    }
                }
            }
        }
    })
}

/// Run `argv` with `stdin`, a cleared environment plus [`BASE_ENV`], the `passthrough`
/// variables (by name, from the monitor's environment) and `env`, within `timeout`.
/// Errors are for a program that could not be started at all.
pub async fn run(
    argv: &[String],
    stdin: &[u8],
    env: &[(String, String)],
    passthrough: &[String],
    timeout: Duration,
) -> Result<Outcome, String> {
    let Some((prog, args)) = argv.split_first() else {
        return Err("empty command".into());
    };
    let mut cmd = tokio::process::Command::new(clean(prog));
    cmd.args(args.iter().map(|a| clean(a)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .env_clear();
    for name in BASE_ENV
        .iter()
        .copied()
        .chain(passthrough.iter().map(String::as_str))
    {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    if std::env::var_os("PATH").is_none() {
        cmd.env("PATH", DEFAULT_PATH);
    }
    for (k, v) in env {
        cmd.env(k, clean(v));
    }
    // Its own process group, so a timeout kills whatever it started too.
    #[cfg(unix)]
    cmd.process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {prog:?}: {e}"))?;
    let pid = child.id();
    if let Some(mut sin) = child.stdin.take() {
        let data = stdin.to_vec();
        // A program that does not read stdin must not block us: write in the background.
        tokio::spawn(async move {
            let _ = sin.write_all(&data).await;
            let _ = sin.shutdown().await;
        });
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let r1 = collect(child.stdout.take(), buf.clone());
    let r2 = collect(child.stderr.take(), buf.clone());
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    let (exit_code, success, timed_out) = match waited {
        Ok(Ok(status)) => (status.code(), status.success(), false),
        Ok(Err(e)) => return Err(format!("waiting for {prog:?}: {e}")),
        Err(_) => {
            kill_group(pid);
            let _ = child.kill().await;
            (None, false, true)
        }
    };
    // Output of a background process it left running may never end: give the pipes a moment.
    for r in [r1, r2] {
        let abort = r.abort_handle();
        if tokio::time::timeout(Duration::from_millis(200), r)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    let output = buf
        .lock()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Ok(Outcome {
        exit_code,
        success,
        timed_out,
        output,
        duration: start.elapsed(),
    })
}

fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(p) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
        let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[tokio::test]
    async fn stdin_env_exit_status_and_timeout() {
        let o = run(
            &s(&["sh", "-c", "cat; echo \"[$MNO_ALERT_NAME]\"; exit 3"]),
            b"{\"x\":1}",
            &[("MNO_ALERT_NAME".into(), "A; rm -rf /".into())],
            &[],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(o.exit_code, Some(3));
        assert_eq!(o.result(), "failure");
        assert!(o.output.contains("{\"x\":1}[A; rm -rf /]"), "{o:?}");
        let o = run(
            &s(&["sleep", "10"]),
            b"",
            &[],
            &[],
            Duration::from_millis(200),
        )
        .await
        .unwrap();
        assert!(o.timed_out && o.duration < Duration::from_secs(5), "{o:?}");
        assert!(
            run(
                &s(&["/nonexistent/prog"]),
                b"",
                &[],
                &[],
                Duration::from_secs(1)
            )
            .await
            .is_err()
        );
        assert_eq!(label_var("mount-point"), "MNO_ALERT_LABEL_MOUNT_POINT");
    }

    #[tokio::test]
    async fn arguments_are_never_interpreted_by_a_shell() {
        let d = tempfile::tempdir().unwrap();
        let marker = d.path().join("pwned");
        let evil = format!(
            "$(touch {}) ; touch {} `touch {}`\n",
            marker.display(),
            marker.display(),
            marker.display()
        );
        let o = run(&s(&["echo", &evil]), b"", &[], &[], Duration::from_secs(5))
            .await
            .unwrap();
        assert!(o.success);
        assert!(!marker.exists());
        assert!(o.output.contains("$(touch"));
    }

    #[tokio::test]
    async fn notifier_command_does_not_inherit_agent_token() {
        // SAFETY: nextest runs each test in its own process; nothing else here reads them.
        unsafe {
            std::env::set_var("MNO_AGENT_TOKEN", "agent-secret-0123");
            std::env::set_var("MNO_API_TOKEN", "api-secret-4567");
            std::env::set_var("MNO_TEST_PASSED_THROUGH", "yes");
        }
        let env = [("MNO_ALERT_NAME".to_string(), "Disk".to_string())];
        let o = run(&s(&["env"]), b"", &env, &[], Duration::from_secs(5))
            .await
            .unwrap();
        assert!(o.success, "{o:?}");
        assert!(!o.output.contains("agent-secret-0123"), "{}", o.output);
        assert!(!o.output.contains("api-secret-4567"), "{}", o.output);
        assert!(
            !o.output.contains("MNO_TEST_PASSED_THROUGH"),
            "{}",
            o.output
        );
        assert!(o.output.contains("MNO_ALERT_NAME=Disk"), "{}", o.output);
        assert!(o.output.contains("PATH="), "{}", o.output);
        // Named in env_passthrough: passed.
        let pass = s(&["MNO_TEST_PASSED_THROUGH"]);
        let o = run(&s(&["env"]), b"", &env, &pass, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            o.output.contains("MNO_TEST_PASSED_THROUGH=yes"),
            "{}",
            o.output
        );
        assert!(!o.output.contains("agent-secret-0123"), "{}", o.output);
    }
}
