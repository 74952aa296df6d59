//! docs/troubleshooting.md quotes what the binaries print: each failure it describes (port in
//! use, database locked, permission denied, service not starting) is provoked here with the
//! real binaries, and the `error:` line they print — with this test's scratch directory and
//! free ports mapped onto the default paths and ports the doc shows — must appear in the doc
//! verbatim.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mno_testkit::{free_port, tool, tools_required};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/troubleshooting.md");

struct Case {
    /// The scratch root standing for `/`.
    root: PathBuf,
    /// (port used here, port the doc shows).
    ports: Vec<(u16, u16)>,
}

impl Case {
    fn new(root: &Path) -> Case {
        Case {
            root: root.to_path_buf(),
            ports: Vec::new(),
        }
    }

    /// A path under the scratch root for the doc's absolute `path`, its parent created.
    fn path(&self, path: &str) -> PathBuf {
        let p = self.root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        p
    }

    /// The last `error:` line of stderr, mapped onto the doc's paths and ports.
    fn error_line(&self, stderr: &[u8]) -> String {
        let text = String::from_utf8_lossy(stderr);
        let line = text
            .lines()
            .rev()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("no error line in:\n{text}"))
            .to_string();
        let mut line = line.replace(self.root.to_str().unwrap(), "");
        for (here, doc) in &self.ports {
            line = line.replace(&format!(":{here} "), &format!(":{doc} "));
        }
        line
    }
}

fn binaries() -> Option<(PathBuf, PathBuf)> {
    let agent = PathBuf::from(env!("CARGO_BIN_EXE_super-agent"));
    let monitor = agent.with_file_name("machinenativenops-auto-monitor");
    if monitor.is_file() {
        return Some((monitor, agent));
    }
    let msg = format!("no {}", monitor.display());
    if tools_required() {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    None
}

/// A command with none of the caller's MNO_* variables.
fn command(exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    for (k, _) in std::env::vars() {
        if k.starts_with("MNO_") {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn assert_documented(line: &str) {
    let doc = std::fs::read_to_string(DOC).unwrap();
    assert!(
        doc.lines().any(|l| l == line),
        "docs/troubleshooting.md does not quote what the binary prints now:\n{line}"
    );
}

/// A running service, killed on drop.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_health(port: u16) {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on {port}");
}

#[test]
fn port_in_use() {
    let Some((monitor, agent)) = binaries() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut case = Case::new(tmp.path());
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();

    case.ports = vec![(port, 8000)];
    let o = command(&monitor)
        .args(["serve", "--port", &port.to_string()])
        .env(
            "MNO_DB_PATH",
            case.path("/var/lib/machinenativenops/auto_monitor/metrics.db"),
        )
        .env("MNO_LOG_FILE", "")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_documented(&case.error_line(&o.stderr));

    case.ports = vec![(port, 8082)];
    let o = command(&agent)
        .args(["serve", "--port", &port.to_string(), "--data-dir"])
        .arg(case.path("/var/lib/machinenativenops/super-agent/x"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_documented(&case.error_line(&o.stderr));
}

#[test]
fn database_locked() {
    let Some((monitor, agent)) = binaries() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let case = Case::new(tmp.path());
    let db = case.path("/var/lib/machinenativenops/auto_monitor/metrics.db");
    let port = free_port();
    let _first = Running(
        command(&monitor)
            .args(["serve", "--port", &port.to_string()])
            .env("MNO_DB_PATH", &db)
            .env("MNO_LOG_FILE", "")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_health(port);
    let o = command(&monitor)
        .args(["serve", "--port", &free_port().to_string()])
        .env("MNO_DB_PATH", &db)
        .env("MNO_LOG_FILE", "")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_documented(&case.error_line(&o.stderr));

    let data = case.path("/var/lib/machinenativenops/super-agent/x");
    let data = data.parent().unwrap();
    let port = free_port();
    let _first = Running(
        command(&agent)
            .args(["serve", "--port", &port.to_string(), "--data-dir"])
            .arg(data)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_health(port);
    let o = command(&agent)
        .args(["serve", "--port", &free_port().to_string(), "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_documented(&case.error_line(&o.stderr));
}

#[test]
fn service_not_starting_on_a_bad_config() {
    let Some((monitor, agent)) = binaries() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let case = Case::new(tmp.path());
    let cfg = case.path("/etc/machinenativenops/monitor.yaml");
    std::fs::write(&cfg, "monitoring:\n  interval: fast\n").unwrap();
    let o = command(&monitor)
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_documented(&case.error_line(&o.stderr));

    let cfg = case.path("/etc/machinenativenops/super-agent.yaml");
    std::fs::write(&cfg, "port: 99999\n").unwrap();
    let o = command(&agent)
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_documented(&case.error_line(&o.stderr));
}

/// The current user's id.
fn euid() -> u32 {
    let o = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

#[test]
fn permission_denied() {
    let Some((monitor, agent)) = binaries() else {
        return;
    };
    // Root writes anywhere: as root, run the binaries as nobody (setpriv) from copies in a
    // directory nobody can read.
    let tmp = tempfile::tempdir().unwrap();
    let root = euid() == 0;
    let setpriv = if root {
        match tool("setpriv") {
            Some(p) => Some(p),
            None => return,
        }
    } else {
        None
    };
    let bins = tmp.path().join("bin");
    std::fs::create_dir_all(&bins).unwrap();
    let copy = |b: &Path| {
        let to = bins.join(b.file_name().unwrap());
        std::fs::copy(b, &to).unwrap();
        to
    };
    let (monitor, agent) = (copy(&monitor), copy(&agent));
    let case = Case::new(&tmp.path().join("root"));
    let home = case.path("/home/mno/x");
    let home = home.parent().unwrap();
    let db = case.path("/var/lib/machinenativenops/auto_monitor/metrics.db");
    let data = case.path("/var/lib/machinenativenops/super-agent/x");
    let data = data.parent().unwrap();
    // Readable and traversable by everyone, writable by nobody but root.
    let chmod = |p: &Path, mode: &str| {
        let o = Command::new("chmod").arg(mode).arg(p).output().unwrap();
        assert!(o.status.success());
    };
    let mut p = case.root.clone();
    chmod(tmp.path(), "755");
    for part in [
        "",
        "home",
        "home/mno",
        "var",
        "var/lib",
        "var/lib/machinenativenops",
        "var/lib/machinenativenops/auto_monitor",
        "var/lib/machinenativenops/super-agent",
    ] {
        if !part.is_empty() {
            p = case.root.join(part);
        }
        chmod(&p, "555");
    }
    chmod(&bins, "755");
    let unprivileged = |exe: &Path| -> Command {
        let mut cmd = match &setpriv {
            Some(s) => {
                let mut c = command(s);
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                    .arg(exe);
                c
            }
            None => command(exe),
        };
        cmd.env("HOME", home).env_remove("XDG_DATA_HOME");
        cmd
    };

    let o = unprivileged(&monitor)
        .args(["serve", "--port", &free_port().to_string()])
        .env("MNO_DB_PATH", &db)
        .env("MNO_LOG_FILE", "")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_documented(&case.error_line(&o.stderr));

    let o = unprivileged(&agent)
        .args(["serve", "--port", &free_port().to_string(), "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_documented(&case.error_line(&o.stderr));

    // A privileged port (unless this kernel lets everyone bind low ports).
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
        .unwrap_or(1024);
    if low > 80 {
        let o = unprivileged(&monitor)
            .args(["serve", "--port", "80"])
            .env("MNO_DB_PATH", tmp.path().join("bin/unused.db"))
            .env("MNO_LOG_FILE", "")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert_documented(&case.error_line(&o.stderr));
    }
    // Let the temporary directory be removed.
    for entry in [
        "",
        "home",
        "home/mno",
        "var",
        "var/lib",
        "var/lib/machinenativenops",
        "var/lib/machinenativenops/auto_monitor",
        "var/lib/machinenativenops/super-agent",
    ] {
        chmod(&case.root.join(entry), "755");
    }
}

/// A line that is not in the doc fails: the check can fail.
#[test]
#[should_panic(expected = "does not quote")]
fn an_unquoted_message_fails() {
    assert_documented("error: something the doc never says");
}
