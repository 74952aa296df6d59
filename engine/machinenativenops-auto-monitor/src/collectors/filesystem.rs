//! `filesystem`: size, free space and inodes of each mounted filesystem.
//!
//! Mounts come from `<procfs>/1/mountinfo` (the host's mount namespace when
//! the agent runs in a container with the host's PID namespace), falling back
//! to `<procfs>/self/mountinfo`. Each mount point is measured with
//! `statvfs(2)` under `rootfs_path` on a helper thread: a hung NFS or FUSE
//! mount must not hang the whole tick, so after `mount_timeout_seconds` the
//! mount is reported with `node_filesystem_device_error 1` and skipped on
//! later ticks until the stuck call returns (node_exporter's "stuck mounts").

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use regex_lite::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Toggle, compile_regex};
use crate::metrics::Family;

/// node_exporter 1.5's default `--collector.filesystem.mount-points-exclude`.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";

/// node_exporter 1.5's default `--collector.filesystem.fs-types-exclude`.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";

/// Settings of the `filesystem` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FilesystemConfig {
    /// Whether to collect filesystem sizes and inode counts.
    pub enabled: bool,
    /// Regular expression of mount points to leave out (matched against the
    /// mount point as seen on the host). The default skips pseudo and
    /// container-runtime mounts, as node_exporter does.
    pub mount_points_exclude: String,
    /// Regular expression of filesystem types to leave out. The default skips
    /// pseudo filesystems (proc, sysfs, cgroup, overlay, squashfs, …).
    pub fs_types_exclude: String,
    /// How long to wait for one mount point's `statvfs` before reporting it
    /// with `node_filesystem_device_error 1` (for instance an unreachable NFS
    /// server). A mount that timed out is skipped until its call returns.
    pub mount_timeout_seconds: f64,
}

impl Default for FilesystemConfig {
    fn default() -> Self {
        FilesystemConfig {
            enabled: true,
            mount_points_exclude: DEFAULT_MOUNT_POINTS_EXCLUDE.to_string(),
            fs_types_exclude: DEFAULT_FS_TYPES_EXCLUDE.to_string(),
            mount_timeout_seconds: 5.0,
        }
    }
}

impl Toggle for FilesystemConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// One line of `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Mount source (`/dev/sda1`, `tmpfs`, `server:/export`).
    pub device: String,
    /// Mount point, unescaped (`\040` → space).
    pub mount_point: String,
    /// Filesystem type (`ext4`).
    pub fs_type: String,
    /// Mounted read-only (the mount or its superblock).
    pub read_only: bool,
}

/// Parse `/proc/<pid>/mountinfo`.
pub fn parse(text: &str) -> Result<Vec<Mount>, CollectError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| {
            CollectError::parse("mountinfo", format!("line {}: {why}: {line:?}", n + 1))
        };
        let (left, right) = line
            .split_once(" - ")
            .ok_or_else(|| bad("no \" - \" separator"))?;
        let left: Vec<&str> = left.split_whitespace().collect();
        if left.len() < 6 {
            return Err(bad("fewer than 6 fields before the separator"));
        }
        let mut right = right.split(' ');
        let (Some(fs_type), Some(device)) = (right.next(), right.next()) else {
            return Err(bad("no filesystem type and source"));
        };
        let super_options = right.next().unwrap_or("");
        let ro = |opts: &str| opts.split(',').any(|o| o == "ro");
        out.push(Mount {
            device: unescape(device),
            mount_point: unescape(left[4]),
            fs_type: unescape(fs_type),
            read_only: ro(left[5]) || ro(super_options),
        });
    }
    Ok(out)
}

/// Undo the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..=i + 3].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What `statvfs` says about one filesystem, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsStats {
    /// Total size.
    pub size: f64,
    /// Free space.
    pub free: f64,
    /// Free space available to unprivileged users.
    pub avail: f64,
    /// Total inodes.
    pub files: f64,
    /// Free inodes.
    pub files_free: f64,
}

/// `statvfs(2)` of a path.
pub fn statvfs(path: &Path) -> io::Result<FsStats> {
    let s = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    // Block counts are in fragment-size units (POSIX, and what df uses).
    let block = if s.f_frsize > 0 {
        s.f_frsize
    } else {
        s.f_bsize
    } as f64;
    Ok(FsStats {
        size: s.f_blocks as f64 * block,
        free: s.f_bfree as f64 * block,
        avail: s.f_bavail as f64 * block,
        files: s.f_files as f64,
        files_free: s.f_ffree as f64,
    })
}

/// The stat function; tests swap in one that hangs.
pub type StatFn = fn(&Path) -> io::Result<FsStats>;

/// Measures each mounted filesystem.
#[derive(Debug)]
pub struct FilesystemCollector {
    mount_points_exclude: Regex,
    fs_types_exclude: Regex,
    timeout: Duration,
    stat: StatFn,
    /// Mount points whose `statvfs` timed out and has not returned yet.
    stuck: Arc<Mutex<HashSet<PathBuf>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl FilesystemCollector {
    /// A collector with these settings; fails on an invalid regex or timeout.
    pub fn new(cfg: &FilesystemConfig) -> Result<Self, String> {
        Self::with_stat(cfg, statvfs)
    }

    /// A collector measuring with `stat` instead of `statvfs(2)`.
    pub fn with_stat(cfg: &FilesystemConfig, stat: StatFn) -> Result<Self, String> {
        let timeout = Duration::try_from_secs_f64(cfg.mount_timeout_seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                format!(
                    "collectors.filesystem.mount_timeout_seconds: must be a positive number of seconds, got {}",
                    cfg.mount_timeout_seconds
                )
            })?;
        Ok(FilesystemCollector {
            mount_points_exclude: compile_regex(
                "filesystem.mount_points_exclude",
                &cfg.mount_points_exclude,
            )?,
            fs_types_exclude: compile_regex("filesystem.fs_types_exclude", &cfg.fs_types_exclude)?,
            timeout,
            stat,
            stuck: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    /// Stat `path` on a helper thread, giving up after the timeout.
    fn stat_with_timeout(&self, path: PathBuf) -> io::Result<FsStats> {
        if lock(&self.stuck).contains(&path) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "an earlier statvfs has not returned yet",
            ));
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let stuck = Arc::clone(&self.stuck);
        let stat = self.stat;
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name("mno-statvfs".into())
            .spawn(move || {
                let result = stat(&thread_path);
                // Under the lock, so the collector either sees the result or
                // has already marked the mount stuck (and we unmark it here).
                let mut stuck = lock(&stuck);
                let _ = tx.send(result);
                stuck.remove(&thread_path);
            })?;
        match rx.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                let mut stuck = lock(&self.stuck);
                match rx.try_recv() {
                    Ok(result) => result,
                    Err(_) => {
                        stuck.insert(path);
                        Err(io::Error::new(io::ErrorKind::TimedOut, "statvfs timed out"))
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(io::Error::other("statvfs thread ended without a result"))
            }
        }
    }
}

/// The mount point as a label: the host's view, with `rootfs` stripped.
fn label_mount_point(rootfs: &Path, mount_point: &str) -> String {
    if rootfs == Path::new("/") {
        return mount_point.to_string();
    }
    match Path::new(mount_point).strip_prefix(rootfs) {
        Ok(rest) => format!("/{}", rest.to_string_lossy()),
        Err(_) => mount_point.to_string(),
    }
}

/// Where to stat a (label) mount point: under `rootfs`.
fn stat_path(rootfs: &Path, mount_point: &str) -> PathBuf {
    rootfs.join(mount_point.trim_start_matches('/'))
}

impl Collector for FilesystemCollector {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let text = match ctx.read_proc("1/mountinfo") {
            Ok(t) => t,
            Err(_) => ctx.read_proc("self/mountinfo")?,
        };
        let mounts = parse(&text)?;

        let mut avail = Family::gauge(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
        );
        let mut device_error = Family::gauge(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
        );
        let mut files = Family::gauge("node_filesystem_files", "Filesystem total file nodes.");
        let mut files_free = Family::gauge(
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
        );
        let mut free = Family::gauge(
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
        );
        let mut readonly =
            Family::gauge("node_filesystem_readonly", "Filesystem read-only status.");
        let mut size = Family::gauge("node_filesystem_size_bytes", "Filesystem size in bytes.");

        // The same filesystem mounted twice at one place (or listed twice)
        // would give duplicate series; keep the first, as node_exporter does.
        let mut seen = HashSet::new();
        for m in mounts {
            let mount_point = label_mount_point(&ctx.rootfs, &m.mount_point);
            if self.mount_points_exclude.is_match(&mount_point)
                || self.fs_types_exclude.is_match(&m.fs_type)
            {
                continue;
            }
            if !seen.insert((m.device.clone(), mount_point.clone(), m.fs_type.clone())) {
                continue;
            }
            let labels = [
                ("device", m.device.as_str()),
                ("fstype", m.fs_type.as_str()),
                ("mountpoint", mount_point.as_str()),
            ];
            match self.stat_with_timeout(stat_path(&ctx.rootfs, &mount_point)) {
                Ok(s) => {
                    device_error.push(&labels, 0.0);
                    size.push(&labels, s.size);
                    free.push(&labels, s.free);
                    avail.push(&labels, s.avail);
                    files.push(&labels, s.files);
                    files_free.push(&labels, s.files_free);
                    readonly.push(&labels, if m.read_only { 1.0 } else { 0.0 });
                }
                Err(e) => {
                    tracing::debug!(mountpoint = %mount_point, error = %e, "statvfs failed");
                    device_error.push(&labels, 1.0);
                }
            }
        }
        super::push_nonempty(
            out,
            [avail, device_error, files, files_free, free, readonly, size],
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
28 27 8:2 / /boot ro,relatime shared:2 master:1 - vfat /dev/sda2 rw
29 27 0:30 / /mnt/my\\040disk rw - ext4 /dev/sdb1 ro
30 27 0:31 / /srv/nfs rw - nfs4 server:/export rw,vers=4.2
31 27 0:32 / /empty rw - tmpfs  rw
";

    #[test]
    fn parses_mountinfo() {
        let m = parse(MOUNTINFO).unwrap();
        assert_eq!(m.len(), 6);
        assert_eq!(m[1].device, "/dev/sda1");
        assert_eq!(m[1].mount_point, "/");
        assert_eq!(m[1].fs_type, "ext4");
        assert!(!m[1].read_only);
        // Read-only through the mount options, then through the superblock.
        assert!(m[2].read_only);
        assert!(m[3].read_only);
        assert_eq!(m[3].mount_point, "/mnt/my disk");
        assert_eq!(m[4].device, "server:/export");
        assert_eq!(m[5].device, "");
    }

    #[test]
    fn rejects_malformed_mountinfo() {
        assert!(parse("27 1 8:1 / / rw ext4 /dev/sda1 rw\n").is_err());
        assert!(parse("27 1 8:1 / - ext4 /dev/sda1 rw\n").is_err());
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/a\040b\011c\134d"), "/a b\tc\\d");
        assert_eq!(unescape(r"/trailing\04"), r"/trailing\04");
        assert_eq!(unescape(r"/not\999"), r"/not\999");
    }

    #[test]
    fn default_exclusions_match_node_exporter() {
        let c = FilesystemCollector::new(&FilesystemConfig::default()).unwrap();
        for mp in [
            "/dev",
            "/dev/shm",
            "/proc",
            "/sys/fs/cgroup",
            "/run/credentials/x.service",
            "/var/lib/docker/overlay2/abc",
        ] {
            assert!(c.mount_points_exclude.is_match(mp), "{mp}");
        }
        for mp in ["/", "/devices", "/run", "/var/lib/docker", "/home"] {
            assert!(!c.mount_points_exclude.is_match(mp), "{mp}");
        }
        for fs in ["cgroup", "cgroup2", "overlay", "squashfs", "tracefs"] {
            assert!(c.fs_types_exclude.is_match(fs), "{fs}");
        }
        for fs in ["ext4", "xfs", "tmpfs", "nfs4", "cgroup3"] {
            assert!(!c.fs_types_exclude.is_match(fs), "{fs}");
        }
    }

    #[test]
    fn rootfs_is_stripped_from_labels_and_joined_for_stat() {
        let root = Path::new("/host");
        assert_eq!(label_mount_point(root, "/host/home"), "/home");
        assert_eq!(label_mount_point(root, "/host"), "/");
        assert_eq!(label_mount_point(root, "/hostdata"), "/hostdata");
        assert_eq!(label_mount_point(Path::new("/"), "/home"), "/home");
        assert_eq!(stat_path(root, "/home"), PathBuf::from("/host/home"));
        assert_eq!(stat_path(root, "/"), PathBuf::from("/host/"));
    }

    #[test]
    fn bad_timeout_is_a_config_error() {
        let cfg = FilesystemConfig {
            mount_timeout_seconds: 0.0,
            ..Default::default()
        };
        let e = FilesystemCollector::new(&cfg).err().unwrap();
        assert!(
            e.starts_with("collectors.filesystem.mount_timeout_seconds"),
            "{e}"
        );
    }

    fn hang(_: &Path) -> io::Result<FsStats> {
        std::thread::sleep(Duration::from_millis(600));
        Ok(FsStats {
            size: 1.0,
            free: 1.0,
            avail: 1.0,
            files: 1.0,
            files_free: 1.0,
        })
    }

    #[test]
    fn hung_mount_times_out_and_is_skipped_until_it_returns() {
        let cfg = FilesystemConfig {
            mount_timeout_seconds: 0.05,
            ..Default::default()
        };
        let c = FilesystemCollector::with_stat(&cfg, hang).unwrap();
        let p = PathBuf::from("/srv/nfs");
        let e = c.stat_with_timeout(p.clone()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(lock(&c.stuck).contains(&p));
        // Still stuck: answered at once, without waiting again.
        let t = std::time::Instant::now();
        assert!(c.stat_with_timeout(p.clone()).is_err());
        assert!(t.elapsed() < Duration::from_millis(40));
        // Once the hung call returns, the mount is measured again.
        std::thread::sleep(Duration::from_millis(800));
        assert!(!lock(&c.stuck).contains(&p));
    }

    #[test]
    fn real_host_root_has_a_size() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        FilesystemCollector::new(&FilesystemConfig::default())
            .unwrap()
            .collect(&ctx, &mut out)
            .unwrap();
        let errors = out
            .iter()
            .find(|f| f.name == "node_filesystem_device_error")
            .expect("at least one filesystem");
        assert!(!errors.samples.is_empty());
        let size = out
            .iter()
            .find(|f| f.name == "node_filesystem_size_bytes")
            .unwrap();
        let avail = out
            .iter()
            .find(|f| f.name == "node_filesystem_avail_bytes")
            .unwrap();
        for (s, a) in size.samples.iter().zip(&avail.samples) {
            assert_eq!(s.labels, a.labels);
            assert!(a.value <= s.value, "{:?}", s.labels);
        }
        assert!(size.samples.iter().any(|s| s.value > 0.0));
    }
}
