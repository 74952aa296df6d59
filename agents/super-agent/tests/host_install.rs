//! The host install of both services: `scripts/install.sh` stages binaries, configurations,
//! hardened systemd units and the `machinenativenops` wrapper; both units pass
//! `systemd-analyze verify` with nothing on stderr (it exits 1 only for fatal errors and merely
//! warns about unknown keys); `scripts/package-deb.sh` builds a .deb with the same files from
//! prebuilt binaries (cargo-deb with `--no-build`: no release build in the test).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mno_testkit::{tool, tools_required};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const ROOTFS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../engine/machinenativenops-auto-monitor/rootfs"
);
const UNITS: [(&str, &str); 2] = [
    (
        "machinenativenops-auto-monitor.service",
        "machinenativenops-auto-monitor",
    ),
    ("machinenativenops-super-agent.service", "super-agent"),
];

/// Both binaries of this build: super-agent and the Auto-Monitor beside it.
fn binaries() -> Option<(PathBuf, PathBuf)> {
    let agent = PathBuf::from(env!("CARGO_BIN_EXE_super-agent"));
    let monitor = agent.with_file_name("machinenativenops-auto-monitor");
    if monitor.is_file() {
        return Some((monitor, agent));
    }
    let msg = format!(
        "no {} (cargo build -p machinenativenops-auto-monitor)",
        monitor.display()
    );
    if tools_required() {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    None
}

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `systemd-analyze verify` on `unit` with its ExecStart pointed at `exe` (verify checks that
/// the executable exists): Ok, or its stderr.
fn verify_unit(analyze: &Path, unit_text: &str, name: &str, exe: &Path) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let text = unit_text
        .lines()
        .map(|l| match l.strip_prefix("ExecStart=") {
            Some(rest) => {
                let (_, args) = rest.split_once(' ').unwrap_or((rest, ""));
                format!("ExecStart={} {args}", exe.display())
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let copy = dir.path().join(name);
    std::fs::write(&copy, text).unwrap();
    let o = Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
    if o.status.success() && err.is_empty() {
        Ok(())
    } else {
        Err(format!("{:?}: {err}", o.status.code()))
    }
}

#[test]
fn install_stages_both_services_and_their_units_verify() {
    let Some((monitor, agent)) = binaries() else {
        return;
    };
    let dest = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .arg(format!("{REPO}/scripts/install.sh"))
        .env("DESTDIR", dest.path())
        .env("BIN", &monitor)
        .env("AGENT_BIN", &agent)
        .output()
        .unwrap();
    ok(&o, "install.sh");
    let root = dest.path();
    let bin = root.join("usr/local/bin");
    for f in [
        "usr/local/bin/machinenativenops-auto-monitor",
        "usr/local/bin/super-agent",
        "usr/bin/machinenativenops",
        "etc/machinenativenops/monitor.yaml",
        "etc/machinenativenops/super-agent.yaml",
        "etc/systemd/system/machinenativenops-auto-monitor.service",
        "etc/systemd/system/machinenativenops-super-agent.service",
        "srv/machinenativenops/checkouts",
    ] {
        assert!(root.join(f).exists(), "{f} not installed");
    }

    // The wrapper runs either service's CLI on the installed configuration.
    let wrapper = root.join("usr/bin/machinenativenops");
    let text = std::fs::read_to_string(&wrapper).unwrap();
    assert!(
        text.contains("BINDIR=${MNO_BIN_DIR:-/usr/local/bin}"),
        "{text}"
    );
    let o = Command::new(&wrapper)
        .args(["monitor", "config", "validate"])
        .env("MNO_BIN_DIR", &bin)
        .env(
            "MNO_CONFIG",
            root.join("etc/machinenativenops/monitor.yaml"),
        )
        .output()
        .unwrap();
    ok(&o, "machinenativenops monitor config validate");
    let o = Command::new(&wrapper)
        .args(["agent", "--version"])
        .env("MNO_BIN_DIR", &bin)
        .output()
        .unwrap();
    ok(&o, "machinenativenops agent --version");
    assert!(String::from_utf8_lossy(&o.stdout).contains("super-agent"));
    let o = Command::new(&wrapper).arg("bogus").output().unwrap();
    assert_eq!(o.status.code(), Some(2));

    for (unit, exe) in UNITS {
        let text = std::fs::read_to_string(root.join("etc/systemd/system").join(unit)).unwrap();
        assert!(
            text.contains(&format!("ExecStart=/usr/local/bin/{exe} ")),
            "{unit} runs the installed binary"
        );
        for key in [
            "DynamicUser=yes",
            "ProtectSystem=strict",
            "NoNewPrivileges=yes",
            "Restart=on-failure",
            "RestartPreventExitStatus=2",
            "StartLimitBurst=",
            "StateDirectory=machinenativenops",
            "LogsDirectory=machinenativenops",
            "CapabilityBoundingSet=\n",
        ] {
            assert!(text.contains(key), "{unit} lacks {key:?}");
        }
        let Some(analyze) = tool("systemd-analyze") else {
            return;
        };
        if let Err(e) = verify_unit(&analyze, &text, unit, &bin.join(exe)) {
            panic!("systemd-analyze verify {unit}: {e}");
        }
    }
}

/// A misspelt key is reported on stderr: the unit check can fail.
#[test]
fn a_misspelt_unit_key_fails_verification() {
    let Some(analyze) = tool("systemd-analyze") else {
        return;
    };
    let text = std::fs::read_to_string(
        Path::new(ROOTFS).join("etc/systemd/system/machinenativenops-super-agent.service"),
    )
    .unwrap()
    .replace("NoNewPrivileges=yes", "NoNewPrivilege=yes");
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_super-agent"));
    let e = verify_unit(
        &analyze,
        &text,
        "machinenativenops-super-agent.service",
        &exe,
    )
    .expect_err("a misspelt key must fail");
    assert!(e.contains("NoNewPrivilege"), "{e}");
}

#[test]
fn package_deb_holds_both_services_configs_units_and_wrapper() {
    let Some((monitor, agent)) = binaries() else {
        return;
    };
    if tool("cargo-deb").is_none() || tool("dpkg-deb").is_none() {
        return;
    }
    // cargo-deb takes the binaries from <target>/release: a scratch target dir holding this
    // build's debug binaries (no release build here; scripts/package-deb.sh does that).
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    std::fs::create_dir_all(target.join("release")).unwrap();
    for b in [&monitor, &agent] {
        std::fs::copy(b, target.join("release").join(b.file_name().unwrap())).unwrap();
    }
    let out = tmp.path().join("deb");
    let o = Command::new("bash")
        .arg(format!("{REPO}/scripts/package-deb.sh"))
        .args(["--no-build", "--fast", "--output"])
        .arg(&out)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    ok(&o, "package-deb.sh");
    let deb = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb");
    assert!(
        deb.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("machinenativenops_2.0.0")
    );

    let o = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    ok(&o, "dpkg-deb -c");
    let listing = String::from_utf8_lossy(&o.stdout);
    for path in [
        "./usr/bin/machinenativenops-auto-monitor",
        "./usr/bin/super-agent",
        "./usr/bin/machinenativenops",
        "./etc/machinenativenops/monitor.yaml",
        "./etc/machinenativenops/super-agent.yaml",
        "./usr/lib/systemd/system/machinenativenops-auto-monitor.service",
        "./usr/lib/systemd/system/machinenativenops-super-agent.service",
        "./usr/share/doc/machinenativenops/AUTO_MONITOR_INTEGRATION.md",
    ] {
        assert!(listing.contains(path), "{path} missing:\n{listing}");
    }
    let o = Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .arg("conffiles")
        .output()
        .unwrap();
    ok(&o, "dpkg-deb -I conffiles");
    let conffiles = String::from_utf8_lossy(&o.stdout);
    assert!(conffiles.contains("/etc/machinenativenops/monitor.yaml"));
    assert!(conffiles.contains("/etc/machinenativenops/super-agent.yaml"));

    // Unpacked, the units run /usr/bin's binaries and verify.
    let x = tmp.path().join("x");
    let o = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&x)
        .output()
        .unwrap();
    ok(&o, "dpkg-deb -x");
    for (unit, exe) in UNITS {
        let text = std::fs::read_to_string(x.join("usr/lib/systemd/system").join(unit)).unwrap();
        assert!(
            text.contains(&format!("ExecStart=/usr/bin/{exe} ")),
            "{text}"
        );
        if let Some(analyze) = tool("systemd-analyze")
            && let Err(e) = verify_unit(&analyze, &text, unit, &x.join("usr/bin").join(exe))
        {
            panic!("{unit} from the .deb: {e}");
        }
    }
    let wrapper = std::fs::read_to_string(x.join("usr/bin/machinenativenops")).unwrap();
    assert!(wrapper.contains("BINDIR=${MNO_BIN_DIR:-/usr/bin}"));
}
