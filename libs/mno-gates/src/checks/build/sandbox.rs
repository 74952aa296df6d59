//! What a build from a pull request may see: a cleared environment and, with Landlock, a
//! filesystem without the server's secrets.
//!
//! A build command is code from the pull request. It runs as the server's own user, so
//! without this it could read `MNO_AGENT_TOKEN` from its environment or the evidence
//! signing key from the data directory and forge signed records. Two layers:
//!
//! - **Environment**: cleared, then only `PATH`, `LANG`, `LC_ALL`, `LC_CTYPE`, `TZ`,
//!   `HOME` (a fresh scratch folder, removed after the build), `TMPDIR` (`$HOME/tmp`),
//!   `CARGO_HOME` and
//!   `RUSTUP_HOME` (as set, else `~/.cargo` and `~/.rustup` of the real home when they
//!   exist: with `HOME` moved, cargo and rustup would not find their toolchains), the names
//!   the operator lists in [`BuildSandbox::env_passthrough`], and the module's own `env`.
//! - **Filesystem** (Landlock, Linux 5.13+): read and execute everywhere except the
//!   protected paths; write only in the repository, the scratch `HOME`, `/tmp`, `/dev` and
//!   cargo's download caches ([`cargo_home_access`]). Landlock only grants, so "everything except" is spelled out by
//!   walking from `/` down each protected path's ancestors and granting every sibling
//!   ([`allow_all_except`]); the ancestors themselves cannot be listed. The ruleset is
//!   built before the fork; between fork and exec the child only makes raw syscalls
//!   (`prctl`, `landlock_restrict_self`), all async-signal-safe.
//!   With ABI 6 the domain also keeps the build from signalling processes outside it.
//! - **Process**: the gate makes itself non-dumpable before the first build, and a build
//!   started as root loses every capability but the file-ownership ones (no
//!   `CAP_SYS_PTRACE`), so it cannot read the gate's `/proc/PID/environ` or memory, where
//!   the token still is. `PR_SET_NO_NEW_PRIVS` keeps setuid programs from giving
//!   privileges back.
//!
//! The settings come from whoever runs the gate ([`crate::GateOptions`]), never from the
//! repository's root.gates.yaml, which the pull request itself can change; the repository
//! can only ask for more (`build_verification.require_sandbox`).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use landlock::{
    ABI, Access, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    Scope,
};

/// How builds are isolated; set by the gate's operator (CLI flags, super-agent.yaml).
#[derive(Debug, Clone, Default)]
pub struct BuildSandbox {
    /// Paths no build may read, list or write: the evidence key, the server's data
    /// directory and configuration file.
    pub protected: Vec<PathBuf>,
    /// Environment variables passed from the gate's own environment to builds, by name.
    pub env_passthrough: Vec<String>,
    /// Extra folders builds may write (shared caches such as `CARGO_TARGET_DIR`).
    pub writable: Vec<PathBuf>,
    /// Refuse to build when Landlock cannot be enforced (instead of a warning).
    pub require: bool,
}

/// Variables always passed through when set: the program search path and the locale.
const BASE_ENV: &[&str] = &["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ"];

/// `PATH` when the gate itself has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The Landlock ABI asked for (Linux 6.12: filesystem rights, ioctl on devices, signal and
/// abstract-socket scoping); an older kernel enforces what it knows (best effort).
const LANDLOCK_ABI: ABI = ABI::V6;

/// Everything prepared before the fork for one build.
pub(super) struct Prepared {
    /// The environment the build gets (after `env_clear`).
    env: Vec<(String, OsString)>,
    /// The scratch `HOME`, removed when this is dropped.
    _home: tempfile::TempDir,
    /// The Landlock ruleset to enforce in the child, when the kernel has Landlock.
    ruleset: Option<OwnedFd>,
    /// Why the filesystem is not isolated, when it is not.
    pub not_enforced: Option<String>,
}

impl Prepared {
    /// Give `cmd` the cleared environment, the module's `extra` variables and the ruleset.
    pub fn apply(&self, cmd: &mut Command, extra: &std::collections::BTreeMap<String, String>) {
        cmd.env_clear();
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.envs(extra);
        let fd = self.ruleset.as_ref().map(|fd| fd.as_raw_fd());
        // SAFETY: the closure only makes raw syscalls and reads errno: no allocation, no
        // lock, nothing that is unsafe between fork and exec. `fd` stays open in the parent
        // (owned by `self`) until after the spawn returns, so it is valid in the child; it
        // is close-on-exec, so the build never holds it.
        unsafe {
            cmd.pre_exec(move || restrict_self(fd));
        }
    }
}

/// Capabilities a build run as root keeps: owning and changing its own files. The rest
/// (above all `CAP_SYS_PTRACE`, which would let it read the gate's memory and environment
/// through /proc) leave the bounding set, so exec cannot give them back.
/// (Numbers from linux/capability.h: CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4.)
const KEPT_CAPS: &[i32] = &[0, 1, 3, 4];

/// The highest capability number tried (unknown ones answer EINVAL and are skipped).
const LAST_CAP: i32 = 63;

/// Keep this process's memory and environment (`/proc/PID/environ`, `/proc/PID/mem`) from
/// builds running as the same user: a non-dumpable process can only be inspected with
/// `CAP_SYS_PTRACE`, which builds do not have. Also turns off its core dumps (they would
/// hold the token and key).
fn guard_self() {
    // SAFETY: a plain prctl with integer arguments; failure leaves the process as it was.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// In the child, between fork and exec: fewer capabilities, no new privileges, then the
/// Landlock domain.
fn restrict_self(fd: Option<i32>) -> std::io::Result<()> {
    // SAFETY: plain syscalls with integer arguments.
    unsafe {
        for cap in 0..=LAST_CAP {
            if !KEPT_CAPS.contains(&cap) {
                // EPERM without CAP_SETPCAP (not root: nothing to drop), EINVAL past the last.
                libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
            }
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let Some(fd) = fd else { return Ok(()) };
        if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Prepare one build in the repository `canon_root` (canonical).
pub(super) fn prepare(canon_root: &Path, sb: &BuildSandbox) -> Result<Prepared, String> {
    guard_self();
    let home = tempfile::Builder::new()
        .prefix("mno-build-home-")
        .tempdir()
        .map_err(|e| format!("cannot create the build's scratch HOME: {e}"))?;
    let real_home = std::env::var_os("HOME").map(PathBuf::from);
    let mut env: Vec<(String, OsString)> = Vec::new();
    for name in BASE_ENV {
        if let Some(v) = std::env::var_os(name) {
            env.push((name.to_string(), v));
        }
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    env.push(("HOME".into(), home.path().as_os_str().to_owned()));
    // A private temporary folder: /tmp may hold the protected paths (then only its other
    // entries are writable, not /tmp itself), and other builds' files.
    let tmp = home.path().join("tmp");
    std::fs::create_dir(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    env.push(("TMPDIR".into(), tmp.into_os_string()));
    let mut caches = Vec::new();
    let mut secrets = Vec::new();
    for (name, default) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
        let dir = std::env::var_os(name)
            .map(PathBuf::from)
            .or_else(|| real_home.as_ref().map(|h| h.join(default)))
            .filter(|d| d.is_dir());
        if let Some(d) = dir {
            env.push((name.to_string(), d.as_os_str().to_owned()));
            if name == "CARGO_HOME" {
                let (w, s) = cargo_home_access(&d);
                caches.extend(w);
                secrets.extend(s);
            }
        }
    }
    for name in &sb.env_passthrough {
        if let Some(v) = std::env::var_os(name) {
            env.retain(|(k, _)| k != name);
            env.push((name.clone(), v));
        }
    }
    let mut writable = vec![
        canon_root.to_path_buf(),
        home.path().to_path_buf(),
        std::env::temp_dir(),
        PathBuf::from("/tmp"),
        PathBuf::from("/dev"),
    ];
    writable.extend(caches);
    writable.extend(sb.writable.iter().cloned());
    let protected: Vec<PathBuf> = sb
        .protected
        .iter()
        .chain(&secrets)
        .map(|p| canonical(p))
        .collect();
    #[cfg(test)]
    if tests::NO_LANDLOCK.get() {
        return Ok(Prepared {
            env,
            _home: home,
            ruleset: None,
            not_enforced: Some("Landlock turned off by the test".into()),
        });
    }
    let (ruleset, not_enforced) = match ruleset(&protected, &writable) {
        Ok(Some(fd)) => (Some(fd), None),
        Ok(None) => (
            None,
            Some(
                "this kernel has no Landlock (Linux 5.13+ with `landlock` in the `lsm=` list)"
                    .into(),
            ),
        ),
        Err(e) => (None, Some(format!("Landlock ruleset: {e}"))),
    };
    Ok(Prepared {
        env,
        _home: home,
        ruleset,
        not_enforced,
    })
}

/// Whether this kernel enforces Landlock (a ruleset can be created).
pub fn landlock_available() -> bool {
    ruleset(&[], &[]).is_ok_and(|fd| fd.is_some())
}

/// What a build may write in `CARGO_HOME`, and what it may not read there.
///
/// Only the download caches (`registry/`, `git/`) and cargo's lock and last-use files are
/// writable: a build able to write `bin/` or `config.toml` would plant programs or settings
/// the gate's user runs later. `credentials.toml` (the registry token) is not readable.
/// `RUSTUP_HOME` stays read-only: toolchains are installed by the operator, not by a pull
/// request's `rust-toolchain.toml`.
fn cargo_home_access(cargo_home: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut writable = Vec::new();
    for d in ["registry", "git"] {
        let p = cargo_home.join(d);
        // Made now if missing: creating it in CARGO_HOME is not allowed to the build.
        if p.is_dir() || std::fs::create_dir(&p).is_ok() {
            writable.push(p);
        }
    }
    for f in [
        ".package-cache",
        ".package-cache-mutate",
        ".global-cache",
        ".global-cache-journal",
        ".global-cache-wal",
        ".global-cache-shm",
    ] {
        let p = cargo_home.join(f);
        if p.is_file() {
            writable.push(p);
        }
    }
    let secrets = ["credentials.toml", "credentials"]
        .iter()
        .map(|f| cargo_home.join(f))
        .collect();
    (writable, secrets)
}

/// The ruleset fd, or `None` when the kernel has no Landlock.
fn ruleset(protected: &[PathBuf], writable: &[PathBuf]) -> Result<Option<OwnedFd>, String> {
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let read = AccessFs::from_read(LANDLOCK_ABI);
    let mut rs = Ruleset::default()
        .handle_access(all)
        .and_then(|r| r.scope(Scope::from_all(LANDLOCK_ABI)))
        .and_then(|r| r.create())
        .map_err(|e| e.to_string())?;
    let mut grant = |paths: Vec<PathBuf>, access: BitFlags<AccessFs>| -> Result<(), String> {
        for p in paths {
            // Entries that vanished or cannot be opened are simply not granted.
            let Ok(fd) = PathFd::new(&p) else { continue };
            let access = if p.is_dir() {
                access
            } else {
                access & AccessFs::from_file(LANDLOCK_ABI)
            };
            (&mut rs)
                .add_rule(PathBeneath::new(fd, access))
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok(())
    };
    grant(allow_all_except(Path::new("/"), protected), read)?;
    let mut seen = BTreeSet::new();
    for w in writable {
        let w = canonical(w);
        if w.exists() && seen.insert(w.clone()) {
            grant(allow_all_except(&w, protected), all)?;
        }
    }
    Ok(rs.into())
}

/// `p` made absolute and canonical as far as it exists (a key file not yet written is
/// protected at the place it will be).
fn canonical(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
            canonical(parent).join(name)
        }
        _ => std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf()),
    }
}

/// The paths to grant so that everything under `base` is covered except `protected`
/// (canonical paths): `base` itself when no protected path is inside it, else, for each
/// directory on the way down to a protected path, every other entry.
///
/// The directories on the way (the protected paths' ancestors) get no rule of their own:
/// a rule on a folder covers everything under it. A symlink whose target is, holds or lies
/// under a protected path is left out, since granting it would grant its target.
pub fn allow_all_except(base: &Path, protected: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(base, protected, &mut out);
    out
}

fn walk(base: &Path, protected: &[PathBuf], out: &mut Vec<PathBuf>) {
    if protected.iter().any(|p| base.starts_with(p)) {
        return;
    }
    if !protected.iter().any(|p| p.starts_with(base)) {
        out.push(base.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    names.sort();
    for path in names {
        let is_link = path.symlink_metadata().is_ok_and(|m| m.is_symlink());
        if is_link {
            let touches = |t: &Path| {
                protected
                    .iter()
                    .any(|p| t.starts_with(p) || p.starts_with(t))
            };
            match path.canonicalize() {
                Ok(target) if !touches(&target) => out.push(path),
                _ => {}
            }
        } else {
            walk(&path, protected, out);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    thread_local! {
        /// Makes [`prepare`] act as on a kernel without Landlock, in this thread only
        /// (`cargo test` runs tests side by side in one process).
        pub static NO_LANDLOCK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    #[test]
    fn allow_all_except_grants_every_sibling_on_the_way_down() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        for d in ["a/data/keys", "a/other", "b"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        std::fs::write(base.join("a/file"), "x").unwrap();
        std::fs::write(base.join("a/data/keys/evidence.key"), "k").unwrap();
        std::fs::write(base.join("a/data/jobs.db"), "j").unwrap();
        let protected = vec![base.join("a/data/keys/evidence.key")];
        let got = allow_all_except(&base, &protected);
        let want: Vec<PathBuf> = ["a/data/jobs.db", "a/file", "a/other", "b"]
            .iter()
            .map(|p| base.join(p))
            .collect();
        assert_eq!(got, want);
        // Nothing to exclude: the base itself; the base protected: nothing.
        assert_eq!(
            allow_all_except(&base.join("b"), &protected),
            vec![base.join("b")]
        );
        assert!(allow_all_except(&base.join("a/data/keys/evidence.key"), &protected).is_empty());
        let whole = vec![base.join("a")];
        assert_eq!(allow_all_except(&base, &whole), vec![base.join("b")]);
    }

    #[test]
    fn allow_all_except_leaves_out_symlinks_into_protected_paths() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(base.join("data/sub")).unwrap();
        std::fs::create_dir_all(base.join("ok")).unwrap();
        std::os::unix::fs::symlink(base.join("data"), base.join("into")).unwrap();
        std::os::unix::fs::symlink(base.join("data/sub"), base.join("under")).unwrap();
        std::os::unix::fs::symlink(&base, base.join("above")).unwrap();
        std::os::unix::fs::symlink(base.join("ok"), base.join("fine")).unwrap();
        std::os::unix::fs::symlink(base.join("gone"), base.join("dangling")).unwrap();
        let got = allow_all_except(&base, &[base.join("data")]);
        assert_eq!(got, vec![base.join("fine"), base.join("ok")]);
    }

    #[test]
    fn canonical_keeps_a_path_that_does_not_exist_yet_under_its_real_parent() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        assert_eq!(
            canonical(&dir.path().join("link/new/evidence.key")),
            real.join("new/evidence.key")
        );
    }
}
