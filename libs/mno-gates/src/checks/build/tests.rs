use super::*;
use crate::config::BuildModule;

fn module(argv: &[&str]) -> BuildModule {
    BuildModule {
        command: argv.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn cfg(modules: Vec<(&str, BuildModule)>) -> BuildConfig {
    BuildConfig {
        modules: modules
            .into_iter()
            .map(|(n, m)| (n.to_string(), m))
            .collect(),
        ..Default::default()
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn a_passing_build_passes_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &cfg(vec![("a", module(&["sh", "-c", "echo built >&2; pwd"]))]),
        "root.modules.yaml",
    );
    assert_eq!(r.status, Status::Passed, "{r:#?}");
    let item = &r.items[0];
    assert_eq!((item.status, item.exit_code), (Status::Passed, Some(0)));
    let canon = dir.path().canonicalize().unwrap();
    // stdout and stderr both land in the tail (their relative order is up to the scheduler).
    assert!(item.output_tail.contains("built\n"), "{}", item.output_tail);
    assert!(item.output_tail.contains(&format!("{}\n", canon.display())));
}

#[test]
fn a_failing_build_is_located_at_its_registry_entry_with_the_output_tail() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "root.modules.yaml",
        "modules:\n  - name: lib\n    version: 1.0.0\n  - name: app\n    version: 1.0.0\n    \
         build:\n      command: [sh, -c, 'for i in 1 2 3 4 5; do echo line $i; done >&2; echo boom >&2; exit 3']\n",
    );
    let mut c = cfg(vec![]);
    c.tail_lines = 3;
    let r = run(dir.path(), &c, "root.modules.yaml");
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    let f = &r.findings[0];
    assert_eq!(
        (f.rule_id.as_str(), f.file.as_str(), f.line),
        ("build.failed", "root.modules.yaml", 7)
    );
    assert!(f.message.contains("exit code 3"), "{}", f.message);
    assert_eq!(r.items[0].status, Status::Skipped);
    assert_eq!(r.items[0].detail.as_deref(), Some("no build command"));
    let app = &r.items[1];
    assert_eq!((app.status, app.exit_code), (Status::Failed, Some(3)));
    assert!(
        app.output_tail.starts_with("… (3 earlier lines)\n"),
        "{}",
        app.output_tail
    );
    assert!(app.output_tail.contains("line 5\n"), "{}", app.output_tail);
    assert!(app.output_tail.ends_with("boom\n"), "{}", app.output_tail);
    assert_eq!(r.files_read, vec!["root.modules.yaml".to_string()]);
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = module(&["sh", "-c", "sleep 60 & sleep 60"]);
    m.timeout_seconds = Some(1);
    let started = Instant::now();
    let r = run(dir.path(), &cfg(vec![("slow", m)]), "root.modules.yaml");
    // Well below the 60 s the children would take: the background sleep holding the
    // output pipe was killed too, or reading the output would still be waiting for it.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.findings[0].rule_id, "build.timeout");
    assert_eq!(r.items[0].exit_code, None);
}

#[test]
fn leftovers_of_a_finished_build_are_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("bg.pid");
    let script = format!("sleep 60 & echo $! > {}", pidfile.display());
    let r = run(
        dir.path(),
        &cfg(vec![("bg", module(&["sh", "-c", &script]))]),
        "root.modules.yaml",
    );
    assert_eq!(r.status, Status::Passed, "{r:#?}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = (0..100).any(|_| {
        let alive = rustix::process::Pid::from_raw(pid)
            .is_some_and(|p| rustix::process::test_kill_process(p).is_ok());
        // A killed child of init may linger as a zombie for a moment; `ps` would show Z.
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"));
        if alive && !zombie {
            std::thread::sleep(Duration::from_millis(20));
        }
        !alive || zombie
    });
    assert!(gone, "background process {pid} survived the build");
}

#[test]
fn a_workdir_outside_the_root_is_refused_and_not_run() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("repo");
    std::fs::create_dir_all(&root).unwrap();
    let marker = parent.path().join("ran");
    let mut m = module(&["touch", marker.to_str().unwrap()]);
    m.workdir = Some("..".into());
    write(
        &root,
        "root.gates.yaml",
        "build_verification:\n  modules:\n    escape:\n      command: [touch, x]\n      workdir: ..\n",
    );
    let r = run(&root, &cfg(vec![("escape", m)]), "root.modules.yaml");
    assert_eq!(r.status, Status::Failed);
    let f = &r.findings[0];
    assert_eq!(
        (f.rule_id.as_str(), f.file.as_str(), f.line, f.column),
        ("build.workdir", "root.gates.yaml", 3, 5)
    );
    assert_eq!(r.items[0].status, Status::Error);
    assert!(!marker.exists());
}

#[test]
fn a_missing_program_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &cfg(vec![("x", module(&["mno-no-such-program-here"]))]),
        "root.modules.yaml",
    );
    assert_eq!(r.findings[0].rule_id, "build.not-found");
    assert_eq!(r.status, Status::Failed);
}

#[test]
fn modules_without_commands_make_the_check_skipped_not_passed() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "root.modules.yaml",
        "modules:\n  - name: a\n    version: 1.0.0\n    build: { command: [sh, -c, 'exit 1'] }\n",
    );
    // An empty command in root.gates.yaml turns the registry's build off.
    let r = run(
        dir.path(),
        &cfg(vec![("a", module(&[]))]),
        "root.modules.yaml",
    );
    assert_eq!(r.status, Status::Skipped, "{r:#?}");
    assert_eq!(r.items.len(), 1);
    assert_eq!(r.items[0].status, Status::Skipped);
    let empty = tempfile::tempdir().unwrap();
    let r = run(empty.path(), &cfg(vec![]), "root.modules.yaml");
    assert_eq!(r.status, Status::Skipped);
}

#[test]
fn registry_workdir_env_and_timeout_are_used() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "sub/marker", "");
    write(
        dir.path(),
        "root.modules.yaml",
        "modules:\n  - name: a\n    version: 1.0.0\n    build:\n      command: [sh, -c, 'ls; echo $GREETING']\n      \
         cwd: sub\n      env: { GREETING: hello }\n      timeout: 30s\n",
    );
    let r = run(dir.path(), &cfg(vec![]), "root.modules.yaml");
    assert_eq!(r.status, Status::Passed, "{r:#?}");
    assert_eq!(r.items[0].output_tail, "marker\nhello\n");
}
