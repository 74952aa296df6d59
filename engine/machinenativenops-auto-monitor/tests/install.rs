//! `scripts/install.sh` stages a working install, and the systemd unit passes
//! `systemd-analyze verify` with no warnings.

mod common;
use common::*;
use std::process::Command;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

#[test]
fn install_script_stages_binary_config_and_unit() {
    let dest = tempfile::tempdir().unwrap();
    let install = |extra: &[(&str, &str)]| {
        let mut cmd = Command::new("bash");
        cmd.arg(format!("{REPO}/scripts/install.sh"))
            .env("DESTDIR", dest.path())
            .env("BIN", bin());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let o = install(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let root = dest.path();
    let installed = root.join("usr/local/bin/machinenativenops-auto-monitor");
    let unit = root.join("etc/systemd/system/machinenativenops-auto-monitor.service");
    let cfg = root.join("etc/machinenativenops/monitor.yaml");
    assert!(installed.is_file() && unit.is_file() && cfg.is_file());

    // The installed binary runs on the installed config.
    let o = Command::new(&installed)
        .args(["--config", cfg.to_str().unwrap(), "config", "show"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A second install keeps the operator's edited config.
    std::fs::write(&cfg, "monitoring:\n  interval: 7\n").unwrap();
    let o = install(&[]);
    assert!(o.status.success());
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "monitoring:\n  interval: 7\n"
    );

    let Some(analyze) = tool("systemd-analyze") else {
        return;
    };
    // verify checks that ExecStart exists on this host: point it at the staged binary.
    let text = std::fs::read_to_string(&unit).unwrap().replace(
        "/usr/local/bin/machinenativenops-auto-monitor",
        installed.to_str().unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("machinenativenops-auto-monitor.service");
    std::fs::write(&copy, text).unwrap();
    let o = Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    // verify exits 1 only on fatal errors; unknown keys merely warn, so stderr must be empty.
    assert!(
        o.status.success() && err.trim().is_empty(),
        "systemd-analyze verify: {err}"
    );
}
