//! Link the size-optimised agent binary with its executed code laid out first.
//!
//! Why: the agent's resident memory is mostly its own executable's code. On a page fault in a
//! file mapping the kernel maps the surrounding 64 KiB window too (fault-around), so code that
//! is executed now and then all over `.text` makes nearly all of `.text` resident, although a
//! running agent executes about a third of it. `text-order.txt` lists the functions a serving
//! agent executes (made by `scripts/text-order.sh` under callgrind); lld's
//! `--symbol-ordering-file` places them first and together, so they fill few windows and the
//! code that never runs (other subcommands, unused parts of dependencies) stays on disk.
//! With glibc 2.36 or later the relative relocations are packed too (`-z pack-relative-relocs`,
//! DT_RELR): 7 KB instead of 580 KB of `.rela.dyn`, which the loader reads at every start.
//!
//! Only for size-optimised builds (`OPT_LEVEL` "z" or "s": the `agent` profile that
//! `scripts/install.sh` ships), native x86_64/aarch64 Linux GNU builds, with the lld that rustup
//! ships beside rustc (`<sysroot>/lib/rustlib/<target>/bin/gcc-ld`, the linker rustc itself
//! uses by default on x86_64 Linux); anything else links as before. Names in the file that no
//! longer exist (renamed or inlined functions) are skipped by lld, so a stale file costs memory,
//! never the build. `MNO_TEXT_ORDER=off` switches all of this off.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = "machinenativenops-auto-monitor";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=text-order.txt");
    println!("cargo:rerun-if-env-changed=MNO_TEXT_ORDER");

    let var = |k: &str| env::var(k).unwrap_or_default();
    if !matches!(var("OPT_LEVEL").as_str(), "z" | "s") || var("MNO_TEXT_ORDER") == "off" {
        return;
    }
    let linux_gnu = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let arch_ok = matches!(var("CARGO_CFG_TARGET_ARCH").as_str(), "x86_64" | "aarch64");
    // A cross build would need the target's glibc and C toolchain checked; keep to native ones.
    if !linux_gnu || !arch_ok || var("HOST") != var("TARGET") {
        return;
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("text-order.txt");
    if !order.is_file() {
        return;
    }
    let Some(gcc_ld) = rust_lld_dir(&var("RUSTC"), &var("TARGET")) else {
        println!(
            "cargo:warning=rust-lld not found in rustc's sysroot: linking {BIN} without \
             text-order.txt (its code is not grouped; the running agent keeps more of it resident)"
        );
        return;
    };
    let arg = |a: &str| println!("cargo:rustc-link-arg-bin={BIN}={a}");
    arg(&format!("-B{}", gcc_ld.display()));
    arg("-fuse-ld=lld");
    arg(&format!("-Wl,--symbol-ordering-file={}", order.display()));
    arg("-Wl,--no-warn-symbol-ordering");
    if glibc_at_least(2, 36) {
        arg("-Wl,-z,pack-relative-relocs");
    }
}

/// `<sysroot>/lib/rustlib/<target>/bin/gcc-ld`, where rustup puts the `ld.lld` wrapper of its
/// rust-lld for `cc -fuse-ld=lld`.
fn rust_lld_dir(rustc: &str, target: &str) -> Option<PathBuf> {
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = String::from_utf8(out.stdout).ok()?;
    let dir = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(target)
        .join("bin/gcc-ld");
    dir.join("ld.lld").is_file().then_some(dir)
}

/// The build host's glibc (the agent is built where it runs: `scripts/install.sh`) is new
/// enough for DT_RELR, which older loaders refuse.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut nums = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (a, b) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    (a, b) >= (major, minor)
}
