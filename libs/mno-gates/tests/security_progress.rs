//! The progress hook of `security_scan`: a last `done` event with the final counts and,
//! when asked for, the total from a pre-count.

use std::sync::{Arc, Mutex};

use mno_gates::{GateOptions, Progress, ProgressEvent, run_gate_with};

#[test]
fn the_hook_ends_with_a_done_event_matching_the_stats() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..50 {
        std::fs::write(dir.path().join(format!("f{i}.txt")), "hello\n".repeat(i)).unwrap();
    }
    std::fs::write(dir.path().join("bin.dat"), [0u8, 1, 2]).unwrap();
    for with_total in [false, true] {
        let seen: Arc<Mutex<Vec<ProgressEvent>>> = Arc::default();
        let s2 = seen.clone();
        let mut hook = Progress::new(move |e| s2.lock().unwrap().push(*e));
        if with_total {
            hook = hook.with_total();
        }
        let opts = GateOptions {
            checks: vec!["security_scan"],
            progress: Some(hook),
            ..Default::default()
        };
        let report = run_gate_with(dir.path(), &opts).unwrap();
        let stats = &report.validation_results["security_scan"].stats;
        let seen = seen.lock().unwrap();
        let last = seen.last().unwrap();
        assert!(last.done && seen.iter().filter(|e| e.done).count() == 1);
        assert_eq!(last.check, "security_scan");
        assert_eq!(last.files, 51);
        assert_eq!(last.files, stats["files_scanned"] + stats["skipped_binary"]);
        assert_eq!(last.bytes, stats["bytes_scanned"]);
        assert_eq!(last.total_files, with_total.then_some(51));
    }
}
