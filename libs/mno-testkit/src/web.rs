//! Web-interface test support: the routes a crate's source declares (to hold the OpenAPI
//! document to them), headless Chromium (DOM, screenshots, console messages, network off),
//! schemathesis from the checkout's Python venv, and where test artifacts go.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One `.route("path", get(a).post(b))` found in source: upper-case method and path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeclaredRoute {
    /// `GET`, `POST`, …
    pub method: String,
    /// The axum path (`/api/v1/gates/{validation_id}`).
    pub path: String,
    /// The file and line that declares it.
    pub at: String,
}

const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

/// Every `.route(...)` call in the `.rs` files under `src`, with each method it routes.
pub fn declared_routes(src: &Path) -> Vec<DeclaredRoute> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && let Ok(text) = std::fs::read_to_string(&p)
            {
                routes_in(&text, &p.display().to_string(), &mut out);
            }
        }
    }
    out.sort();
    out
}

/// The routes of one file's text.
pub fn routes_in(text: &str, file: &str, out: &mut Vec<DeclaredRoute>) {
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find(".route(") {
        let start = i + ".route(".len();
        let call = &rest[start..];
        // The call's arguments up to the matching parenthesis.
        let mut depth = 1;
        let mut end = call.len();
        for (j, c) in call.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &call[..end];
        let line = text[..offset + i].matches('\n').count() + 1;
        if let Some(path) = args
            .trim_start()
            .strip_prefix('"')
            .and_then(|a| a.split('"').next())
        {
            let handlers = &args[args.find(',').map(|c| c + 1).unwrap_or(args.len())..];
            for m in METHODS {
                // `get(`, `.get(`, `routing::get(` but not `target(` or `forget(`.
                let mut h = handlers;
                while let Some(k) = h.find(&format!("{m}(")) {
                    let before = h[..k].chars().last();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        out.push(DeclaredRoute {
                            method: m.to_ascii_uppercase(),
                            path: path.to_string(),
                            at: format!("{file}:{line}"),
                        });
                    }
                    h = &h[k + m.len() + 1..];
                }
            }
        }
        offset += start;
        rest = &rest[start..];
    }
}

/// The target directory of this test run (`CARGO_TARGET_DIR` or the workspace's `target/`):
/// the test executable lies in `<target>/<profile>/deps/`.
pub fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// `<target>/test-artifacts/` (created): screenshots and logs tests leave for people.
pub fn artifacts_dir() -> PathBuf {
    let d = target_dir().join("test-artifacts");
    let _ = std::fs::create_dir_all(&d);
    d
}

/// `schemathesis` from the checkout's `target/py-venv` (scripts/test.sh installs it);
/// `None` with a note when missing and not required.
pub fn schemathesis() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py-venv/bin/schemathesis");
    if p.is_file() {
        return Some(p);
    }
    if crate::tools_required() {
        panic!(
            "{} is required (CI / MNO_REQUIRE_TOOLS=1); run scripts/test.sh",
            p.display()
        );
    }
    eprintln!("SKIP: schemathesis not in target/py-venv (run scripts/test.sh)");
    None
}

/// Flags that keep Chromium from reaching anything but 127.0.0.1: every other host name
/// fails to resolve and every proxied request goes to a closed port.
pub const NETWORK_OFF: [&str; 3] = [
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
];

/// Headless Chromium (the Debian package).
pub struct Chromium {
    bin: PathBuf,
}

/// What one Chromium run printed.
pub struct ChromiumRun {
    /// Standard output (the DOM for `--dump-dom`).
    pub stdout: String,
    /// The page's console messages (`INFO:CONSOLE` lines of the log).
    pub console: Vec<String>,
    /// The whole log.
    pub stderr: String,
}

impl Chromium {
    /// Chromium on PATH; `None` (with a note) when missing and not required.
    pub fn find() -> Option<Chromium> {
        crate::tool("chromium").map(|bin| Chromium { bin })
    }

    /// Load `url` headless with `extra` flags.
    pub fn run(&self, url: &str, extra: &[&str]) -> ChromiumRun {
        let profile = tempfile_dir();
        let mut cmd = Command::new(&self.bin);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let child = cmd.spawn().expect("spawn chromium");
        let out = wait_output(child, Duration::from_secs(120));
        let _ = std::fs::remove_dir_all(&profile);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let console = stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect();
        ChromiumRun {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            console,
            stderr,
        }
    }

    /// The DOM after scripts ran (they get up to 10 s of virtual time).
    pub fn dump_dom(&self, url: &str, extra: &[&str]) -> ChromiumRun {
        let mut flags = vec!["--dump-dom", "--virtual-time-budget=10000"];
        flags.extend_from_slice(extra);
        self.run(url, &flags)
    }

    /// A PNG of the viewport at `width`×`height` in `path`; panics if none was written.
    pub fn screenshot(&self, url: &str, width: u32, height: u32, path: &Path, extra: &[&str]) {
        let _ = std::fs::remove_file(path);
        let shot = format!("--screenshot={}", path.display());
        let size = format!("--window-size={width},{height}");
        let mut flags = vec![
            shot.as_str(),
            size.as_str(),
            "--run-all-compositor-stages-before-draw",
        ];
        flags.extend_from_slice(extra);
        let run = self.run(url, &flags);
        let png = std::fs::read(path)
            .unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{}", path.display(), run.stderr));
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 2000,
            "{} is not a real PNG ({} bytes)",
            path.display(),
            png.len()
        );
    }
}

fn tempfile_dir() -> PathBuf {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!("mno-chromium-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).expect("chromium profile dir");
    d
}

/// Wait for a child's output; kill it past `timeout`.
fn wait_output(mut child: std::process::Child, timeout: Duration) -> std::process::Output {
    use std::io::Read;
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = so.as_mut() {
            let _ = s.read_to_end(&mut b);
        }
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = se.as_mut() {
            let _ = s.read_to_end(&mut b);
        }
        b
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("wait chromium");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::process::Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// Every `href="…"` and `src="…"` value in `html`.
pub fn asset_links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            let after = &rest[i + attr.len()..];
            let v = after.split('"').next().unwrap_or("");
            out.push(v.to_string());
            rest = after;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_routes_and_their_methods() {
        let src = r#"
        Router::new()
            .route("/", get(index))
            .route("/api/v1/gates", get(list_gates).post(post_gate))
            .route(
                "/api/v1/gates/{id}/reports/{file}",
                get(get_report),
            )
            .route("/message", axum::routing::post(message))
            .route("/x", delete(forget(y)))
        "#;
        let mut out = Vec::new();
        routes_in(src, "f.rs", &mut out);
        let got: Vec<(String, String)> = out.into_iter().map(|r| (r.method, r.path)).collect();
        assert_eq!(
            got,
            [
                ("GET", "/"),
                ("GET", "/api/v1/gates"),
                ("POST", "/api/v1/gates"),
                ("GET", "/api/v1/gates/{id}/reports/{file}"),
                ("POST", "/message"),
                ("DELETE", "/x"),
            ]
            .map(|(m, p)| (m.to_string(), p.to_string()))
        );
    }

    #[test]
    fn lists_links() {
        assert_eq!(
            asset_links(r#"<link href="/a"><img src="b.png"><a href="https://x">"#),
            ["/a", "https://x", "b.png"]
        );
    }
}
