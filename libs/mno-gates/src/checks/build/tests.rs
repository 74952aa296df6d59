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

/// Landlock present, or (outside CI) a reason to skip a test that needs it.
/// A fresh folder the sandbox does not let builds write: not under `/tmp`, which builds may
/// write, so not the crate's folder either when the checkout itself lies in `/tmp` (a CI
/// clone there made these tests pass vacuously, then fail): `$HOME` or `/var/tmp` first.
fn outside_writable() -> tempfile::TempDir {
    let bases = [
        std::env::var_os("HOME").map(PathBuf::from),
        Some(PathBuf::from("/var/tmp")),
        std::env::current_dir().ok(),
    ];
    for base in bases.into_iter().flatten() {
        let Ok(dir) = base.canonicalize() else {
            continue;
        };
        if dir.starts_with("/tmp") {
            continue;
        }
        if let Ok(t) = tempfile::Builder::new()
            .prefix(".mno-sandbox-test")
            .tempdir_in(&dir)
        {
            return t;
        }
    }
    panic!("no writable folder outside /tmp to test the build sandbox in");
}

fn landlock_or_skip(test: &str) -> bool {
    if sandbox::landlock_available() {
        return true;
    }
    assert!(
        !mno_testkit::tools_required(),
        "{test}: this kernel has no Landlock and MNO_REQUIRE_TOOLS=1"
    );
    eprintln!("skipping {test}: this kernel has no Landlock");
    false
}

/// A repository and, outside it, a data directory holding a signing key.
fn repo_and_secrets() -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
    let repo = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("evidence")).unwrap();
    let key = data.path().join("evidence/evidence.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").unwrap();
    (repo, data, key)
}

fn protecting(paths: &[&Path]) -> BuildSandbox {
    BuildSandbox {
        protected: paths.iter().map(|p| p.to_path_buf()).collect(),
        ..Default::default()
    }
}

#[test]
fn build_does_not_inherit_the_gate_token() {
    // SAFETY: nextest runs each test in its own process; nothing else here reads it.
    unsafe { std::env::set_var("MNO_AGENT_TOKEN", "s3cr3t-agent-token") };
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &cfg(vec![("a", module(&["env"]))]),
        "root.modules.yaml",
    );
    assert_eq!(r.status, Status::Passed, "{r:#?}");
    let tail = &r.items[0].output_tail;
    assert!(!tail.contains("s3cr3t-agent-token"), "{tail}");
    assert!(!tail.contains("MNO_AGENT_TOKEN"), "{tail}");
    assert!(tail.contains("PATH="), "{tail}");
    // HOME is a scratch folder of its own, gone after the build.
    let home = tail
        .lines()
        .find_map(|l| l.strip_prefix("HOME="))
        .expect("HOME is set");
    assert!(home.contains("mno-build-home-"), "{home}");
    assert!(!Path::new(home).exists(), "{home} was not removed");
    // The operator can pass a variable through by name; the module's env adds its own.
    let sb = BuildSandbox {
        env_passthrough: vec!["MNO_AGENT_TOKEN".into()],
        ..Default::default()
    };
    let mut m = module(&["env"]);
    m.env.insert("FROM_MODULE".into(), "1".into());
    let r = run_with(dir.path(), &cfg(vec![("a", m)]), "root.modules.yaml", &sb);
    let tail = &r.items[0].output_tail;
    assert!(
        tail.contains("MNO_AGENT_TOKEN=s3cr3t-agent-token"),
        "{tail}"
    );
    assert!(tail.contains("FROM_MODULE=1"), "{tail}");
}

#[test]
fn build_cannot_read_the_protected_signing_key() {
    if !landlock_or_skip("build_cannot_read_the_protected_signing_key") {
        return;
    }
    let (repo, data, key) = repo_and_secrets();
    let k = key.to_str().unwrap();
    let sb = protecting(&[data.path()]);
    let r = run_with(
        repo.path(),
        &cfg(vec![("a", module(&["cat", k]))]),
        "root.modules.yaml",
        &sb,
    );
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    let tail = &r.items[0].output_tail;
    assert!(!tail.contains("0123456789abcdef"), "{tail}");
    assert!(tail.contains("Permission denied"), "{tail}");
    // Through a symlink in the repository, or /proc/self/root, it is the same file.
    std::os::unix::fs::symlink(&key, repo.path().join("k")).unwrap();
    let via_proc = format!("/proc/self/root{k}");
    for argv in [["cat", "k"], ["cat", via_proc.as_str()]] {
        let r = run_with(
            repo.path(),
            &cfg(vec![("a", module(&argv))]),
            "root.modules.yaml",
            &sb,
        );
        assert_eq!(r.status, Status::Failed, "{argv:?}: {r:#?}");
        assert!(!r.items[0].output_tail.contains("0123456789abcdef"));
    }
    // Nor the gate's own environment through /proc (non-dumpable, no CAP_SYS_PTRACE).
    let environ = format!("/proc/{}/environ", std::process::id());
    let r = run_with(
        repo.path(),
        &cfg(vec![("a", module(&["cat", &environ]))]),
        "root.modules.yaml",
        &sb,
    );
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    // Not even overwritten.
    let r = run_with(
        repo.path(),
        &cfg(vec![("a", module(&["sh", "-c", &format!("echo x > {k}")]))]),
        "root.modules.yaml",
        &sb,
    );
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        "0123456789abcdef0123456789abcdef"
    );
}

#[test]
fn build_cannot_list_the_protected_data_dir() {
    if !landlock_or_skip("build_cannot_list_the_protected_data_dir") {
        return;
    }
    let (repo, data, _key) = repo_and_secrets();
    let d = data.path().to_str().unwrap();
    let r = run_with(
        repo.path(),
        &cfg(vec![("a", module(&["ls", "-a", d]))]),
        "root.modules.yaml",
        &protecting(&[data.path()]),
    );
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    assert!(!r.items[0].output_tail.contains("evidence"), "{r:#?}");
}

#[test]
fn a_sandboxed_build_still_writes_in_the_repository_home_and_tmp() {
    if !landlock_or_skip("a_sandboxed_build_still_writes_in_the_repository_home_and_tmp") {
        return;
    }
    let (repo, data, _key) = repo_and_secrets();
    std::fs::create_dir_all(repo.path().join("sub")).unwrap();
    let script = "echo ok > out.txt && echo h > \"$HOME/h\" && t=$(mktemp) && rm \"$t\" \
                  && cat /etc/passwd >/dev/null && echo done";
    let mut m = module(&["sh", "-c", script]);
    m.workdir = Some("sub".into());
    let r = run_with(
        repo.path(),
        &cfg(vec![("a", m)]),
        "root.modules.yaml",
        &protecting(&[data.path()]),
    );
    assert_eq!(r.status, Status::Passed, "{r:#?}");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(
        std::fs::read_to_string(repo.path().join("sub/out.txt")).unwrap(),
        "ok\n"
    );
    // Outside the repository and the writable folders, nothing is written.
    let outside = outside_writable();
    let target = outside.path().join("x");
    let r = run_with(
        repo.path(),
        &cfg(vec![(
            "a",
            module(&["sh", "-c", &format!("echo x > {}", target.display())]),
        )]),
        "root.modules.yaml",
        &protecting(&[data.path()]),
    );
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    assert!(!target.exists());
}

#[test]
fn without_landlock_builds_run_with_a_warning_or_are_refused_when_required() {
    // The build is prepared in this thread: the switch stays in this test.
    sandbox::tests::NO_LANDLOCK.set(true);
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(vec![("a", module(&["sh", "-c", "echo ok > out.txt"]))]);
    let r = run(dir.path(), &c, "root.modules.yaml");
    assert_eq!(r.status, Status::Passed, "{r:#?}");
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    assert_eq!(r.findings[0].rule_id, "build.sandbox-not-enforced");
    assert_eq!(r.findings[0].severity, Severity::Warning);
    assert!(dir.path().join("out.txt").is_file());
    std::fs::remove_file(dir.path().join("out.txt")).unwrap();
    // Required by the repository or by the operator: not built, ERROR.
    let mut strict = c.clone();
    strict.require_sandbox = true;
    let sb = BuildSandbox {
        require: true,
        ..Default::default()
    };
    for (c, sb) in [(&strict, BuildSandbox::default()), (&c, sb)] {
        let r = run_with(dir.path(), c, "root.modules.yaml", &sb);
        assert_eq!(r.items[0].status, Status::Error, "{r:#?}");
        assert!(
            r.findings.iter().any(|f| f.rule_id == "build.sandbox"),
            "{r:#?}"
        );
        assert!(!dir.path().join("out.txt").exists(), "built anyway");
    }
}

#[test]
fn build_cannot_plant_programs_or_read_credentials_in_cargo_home() {
    if !landlock_or_skip("build_cannot_plant_programs_or_read_credentials_in_cargo_home") {
        return;
    }
    let cargo_home = outside_writable();
    let ch = cargo_home.path();
    std::fs::create_dir_all(ch.join("bin")).unwrap();
    std::fs::write(ch.join("credentials.toml"), "token = \"cio-secret\"\n").unwrap();
    // SAFETY: nextest runs each test in its own process; nothing else here reads it.
    unsafe { std::env::set_var("CARGO_HOME", ch) };
    let repo = tempfile::tempdir().unwrap();
    let script = "cat \"$CARGO_HOME/credentials.toml\"; echo x > \"$CARGO_HOME/bin/cargo\"; \
                  echo c > \"$CARGO_HOME/config.toml\"; \
                  echo r > \"$CARGO_HOME/registry/ok\" && echo registry-writable";
    let r = run(
        repo.path(),
        &cfg(vec![("a", module(&["sh", "-c", script]))]),
        "root.modules.yaml",
    );
    let tail = &r.items[0].output_tail;
    assert!(!tail.contains("cio-secret"), "{tail}");
    assert!(tail.contains("registry-writable"), "{tail}");
    assert!(!ch.join("bin/cargo").exists());
    assert!(!ch.join("config.toml").exists());
    assert!(ch.join("registry/ok").is_file());
}
