//! Workflow hardening in `security_scan`: fixture workflows give located findings.

use mno_gates::checks::security::workflows::check_text;
use mno_gates::config::SecurityConfig;
use mno_gates::{Severity, Status};

/// A workflow with one of each problem; the line of each is in the comment ending it.
const RISKY: &str = r#"name: risky
on:
  pull_request_target:
    types: [opened]
permissions: write-all                                    # 5
env:
  DEPLOY_KEY: ${{ secrets.DEPLOY_KEY }}
jobs:
  build:
    runs-on: ubuntu-latest
    permissions: write-all                                # 11
    env:
      NPM: ${{ secrets.NPM_TOKEN }}
    steps:
      - uses: actions/checkout@v4                         # 15
        with:
          ref: ${{ github.event.pull_request.head.sha }}  # 17
      - uses: actions/setup-node@1a4442cacd436585916779262731d5b162bc6ec7
      - uses: docker://alpine:3.20                        # 19
      - name: show
        run: |
          npm ci
          echo "token is ${{ secrets.NPM_TOKEN }}"        # 23
          echo "$NPM" | npm login --stdin
          printf '%s' "$DEPLOY_KEY" >&2                   # 25
          echo "$NPM" > .npmrc
      - run: set -x; ./deploy.sh                          # 27
      - run: echo ${{ secrets.X }} # mno:allow reviewed: a masked test value
  reuse:
    uses: org/shared/.github/workflows/ci.yml@main        # 30
"#;

fn located(text: &str) -> Vec<(String, usize, usize, Severity)> {
    check_text(".github/workflows/risky.yml", text)
        .into_iter()
        .map(|f| (f.rule_id, f.line, f.column, f.severity))
        .collect()
}

#[test]
fn each_risky_pattern_is_found_where_it_is() {
    use Severity::{Error, Warning};
    let got = located(RISKY);
    let want = vec![
        ("workflow.write-all".to_string(), 5, 14, Error),
        ("workflow.write-all".to_string(), 11, 18, Error),
        ("workflow.unpinned-action".to_string(), 15, 15, Warning),
        ("workflow.pr-target-checkout".to_string(), 17, 16, Error),
        ("workflow.unpinned-action".to_string(), 19, 15, Warning),
        ("workflow.secret-echo".to_string(), 23, 11, Error),
        ("workflow.secret-echo".to_string(), 25, 11, Error),
        ("workflow.secret-echo".to_string(), 27, 14, Error),
        ("workflow.unpinned-action".to_string(), 30, 11, Warning),
    ];
    let mut sorted = got.clone();
    sorted.sort_by_key(|f| (f.1, f.2));
    assert_eq!(sorted, want, "{got:#?}");
}

#[test]
fn messages_suggest_a_pin_and_never_hold_secret_values() {
    let findings = check_text(".github/workflows/risky.yml", RISKY);
    let pin = findings
        .iter()
        .find(|f| f.rule_id == "workflow.unpinned-action")
        .unwrap();
    assert_eq!(
        pin.suggested_fix.as_deref(),
        Some("pin to the commit SHA of v4 (e.g. uses: actions/checkout@<40-hex> # v4)")
    );
    for f in &findings {
        assert_eq!(f.check, "security_scan");
        assert!(!f.message.contains("${{"), "{}", f.message);
    }
}

#[test]
fn pull_request_with_a_head_checkout_is_fine_and_missing_permissions_is_a_note() {
    let text = r#"on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@0123456789abcdef0123456789abcdef01234567
        with:
          ref: ${{ github.event.pull_request.head.sha }}
"#;
    assert_eq!(
        located(text),
        vec![(
            "workflow.permissions-missing".to_string(),
            2,
            1,
            Severity::Note
        )]
    );
}

#[test]
fn a_broken_workflow_is_a_located_warning() {
    let got = located("on: push\njobs: [\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "workflow.parse");
    assert_eq!(got[0].3, Severity::Warning);
    assert!(got[0].1 >= 2, "{got:?}");
}

#[test]
fn the_check_reads_github_workflows_and_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("risky.yml"), RISKY).unwrap();
    // Only the workflows folder itself counts, not files elsewhere.
    std::fs::write(dir.path().join("not-a-workflow.yml"), RISKY).unwrap();
    let r = mno_gates::checks::security::run(dir.path(), &SecurityConfig::default());
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.stats["workflows_checked"], 1);
    assert_eq!(
        r.findings
            .iter()
            .filter(|f| f.rule_id.starts_with("workflow."))
            .count(),
        9
    );
    assert!(
        r.findings
            .iter()
            .all(|f| f.file == ".github/workflows/risky.yml")
    );

    let off = SecurityConfig {
        workflows: false,
        ..Default::default()
    };
    let r = mno_gates::checks::security::run(dir.path(), &off);
    assert_eq!(r.status, Status::Passed, "{r:#?}");
    assert!(!r.stats.contains_key("workflows_checked"));
}

/// The smallest workflow with each error rule once, as a shared gate fixture would hold it.
const FIXTURE_CI: &str = r#"on: pull_request_target
permissions: write-all
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ secrets.NPM_TOKEN }}"
"#;

#[test]
fn the_fixture_workflow_gives_one_finding_per_rule() {
    let got: Vec<(String, usize)> = check_text(".github/workflows/ci.yml", FIXTURE_CI)
        .into_iter()
        .map(|f| (f.rule_id, f.line))
        .collect();
    let want = [
        ("workflow.write-all", 2),
        ("workflow.unpinned-action", 7),
        ("workflow.pr-target-checkout", 9),
        ("workflow.secret-echo", 10),
    ];
    let want: Vec<(String, usize)> = want.iter().map(|(r, l)| (r.to_string(), *l)).collect();
    let mut sorted = got.clone();
    sorted.sort_by_key(|f| f.1);
    assert_eq!(sorted, want);
}
