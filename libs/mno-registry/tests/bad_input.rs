//! Bad input: each is a clear error (naming the file and what is wrong) reached with
//! bounded memory. Peak heap use is measured with a counting allocator in this test
//! binary; the tests take turns so that each measures only itself.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use mno_registry::LoadError;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Run `f` and return its result with the peak heap growth it caused, in bytes.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

const MIB: usize = 1 << 20;

fn check(path: &std::path::Path) -> (Result<mno_registry::Checked, LoadError>, usize) {
    measured(|| mno_registry::check_file(path))
}

#[test]
fn empty_file_is_a_clear_error() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("empty.yaml", ""),
        ("comments.yaml", "# only a comment\n\n"),
        ("blank.yaml", "   \n"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let (r, peak) = check(&p);
        let err = r.err().unwrap_or_else(|| panic!("{name} was accepted"));
        assert!(matches!(err, LoadError::Empty { .. }), "{name}: {err}");
        assert!(
            err.to_string()
                .ends_with("the file is empty: expected a `modules:` list"),
            "{err}"
        );
        assert!(err.to_string().contains(name), "{err}");
        assert!(peak < MIB, "{name}: {peak} bytes");
    }
}

#[test]
fn billion_laughs_is_refused_with_bounded_memory() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text.push_str("modules: *a9\n");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bomb.yaml");
    std::fs::write(&p, &text).unwrap();
    let (r, peak) = check(&p);
    let err = r.expect_err("the bomb was accepted");
    assert!(matches!(err, LoadError::TooManyNodes { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("bomb.yaml:") && msg.contains("billion laughs"),
        "{msg}"
    );
    assert!(peak < 96 * MIB, "peak {} MiB", peak / MIB);
    eprintln!("billion laughs: refused after a peak of {} MiB", peak / MIB);
}

#[test]
fn fifty_megabyte_file_is_refused_before_reading() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.yaml");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        f.write_all(b"modules:\n").unwrap();
        let entry =
            b"  - { name: module-xxxxxxxx, version: 1.0.0, dependencies: [other (>=1.0.0)] }\n";
        let mut written = 9;
        while written < 50 * MIB {
            f.write_all(entry).unwrap();
            written += entry.len();
        }
        f.flush().unwrap();
    }
    assert!(std::fs::metadata(&p).unwrap().len() >= 50 * MIB as u64);
    let (r, peak) = check(&p);
    let err = r.expect_err("a 50 MB registry was accepted");
    assert!(matches!(err, LoadError::TooLarge { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("a registry may be at most 16777216 bytes"),
        "{err}"
    );
    assert!(peak < MIB, "peak {peak} bytes: the file was read");
}

#[test]
fn binary_file_is_a_clear_error() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("binary.yaml");
    // An ELF header, as when a binary is passed by mistake.
    let mut bytes = b"\x7fELF\x02\x01\x01\x00".to_vec();
    bytes.extend((0..4096u32).map(|i| (i * 7 % 256) as u8));
    std::fs::write(&p, &bytes).unwrap();
    let (r, peak) = check(&p);
    let err = r.expect_err("a binary file was accepted");
    assert_eq!(
        err.to_string(),
        format!("{}: not a text file: a NUL byte at byte 7", p.display())
    );
    assert!(peak < MIB);
    // Invalid UTF-8 without NUL bytes too.
    std::fs::write(&p, b"modules:\n  - name: \xff\xfe\n").unwrap();
    let err = check(&p).0.expect_err("invalid UTF-8 was accepted");
    assert!(
        err.to_string()
            .contains("bytes that are not UTF-8 at byte 19"),
        "{err}"
    );
}

#[test]
fn a_large_but_legitimate_registry_still_loads() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = String::from("modules:\n");
    for i in 0..5000 {
        text.push_str(&format!(
            "  - name: m{i}\n    version: 1.0.{i}\n    dependencies: [{}]\n",
            if i > 0 {
                format!("m{} (>=1.0.0)", i - 1)
            } else {
                String::new()
            }
        ));
    }
    let (r, peak) = measured(|| mno_registry::check_str("big.yaml", &text));
    let checked = r.unwrap();
    assert!(
        checked.report.is_valid(),
        "{:?}",
        checked.report.findings.first()
    );
    assert_eq!(checked.registry.modules.len(), 5000);
    assert!(peak < 64 * MIB, "peak {} MiB", peak / MIB);
}
