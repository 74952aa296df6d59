//! The labeled corpus: planted fake credentials must be found (recall ≥ 95%), placeholders never.
//!
//! The planted secrets are generated at test time from a fixed seed rather
//! than committed: realistic-looking tokens in the repository would trip
//! push protection and every other scanner that reads it.

use std::fmt::Write;
use std::path::Path;

use mno_gates::config::SecurityConfig;
use mno_gates::{Finding, Status};

/// A small deterministic generator (xorshift64*), so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8] = b"0123456789abcdef";
const DIGITS: &[u8] = b"0123456789";
const UPPER32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const UPPERNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// One planted secret: the rule that must find it and the lines of text that carry it
/// (the secret is on the first line).
fn planted(rng: &mut Rng, kind: usize) -> (&'static str, Vec<String>) {
    match kind {
        0 => (
            "aws-access-key-id",
            vec![format!("aws_access_key_id = AKIA{}", rng.pick(UPPER32, 16))],
        ),
        1 => (
            "aws-secret-access-key",
            vec![format!("aws_secret_access_key = {}", rng.pick(B64, 40))],
        ),
        2 => (
            "gcp-api-key",
            vec![format!("const key = \"AIza{}\";", rng.pick(URLSAFE, 35))],
        ),
        3 => (
            "gcp-service-account-key",
            vec![format!("  \"private_key_id\": \"{}\",", rng.pick(HEX, 40))],
        ),
        4 => (
            "azure-storage-account-key",
            vec![format!(
                "conn=DefaultEndpointsProtocol=https;AccountName=store;AccountKey={}==;EndpointSuffix=core.windows.net",
                rng.pick(B64, 86)
            )],
        ),
        5 => (
            "azure-client-secret",
            vec![format!(
                "AZURE_CLIENT_SECRET={}{}Q~{}",
                rng.pick(ALNUM, 3),
                rng.pick(DIGITS, 1),
                rng.pick(ALNUM, 34)
            )],
        ),
        6 => (
            "github-token",
            vec![format!("GH=ghp_{}", rng.pick(ALNUM, 36))],
        ),
        7 => (
            "github-token",
            vec![format!("  oauth: gho_{}", rng.pick(ALNUM, 36))],
        ),
        8 => (
            "github-fine-grained-pat",
            vec![format!(
                "export GH_PAT=github_pat_{}_{}",
                rng.pick(ALNUM, 22),
                rng.pick(ALNUM, 59)
            )],
        ),
        9 => (
            "gitlab-token",
            vec![format!("gitlab: glpat-{}", rng.pick(URLSAFE, 20))],
        ),
        10 => (
            "npm-token",
            vec![format!(
                "//registry.npmjs.org/:_authToken=npm_{}",
                rng.pick(ALNUM, 36)
            )],
        ),
        11 => (
            "pypi-token",
            vec![format!("  - pypi-AgEIcHlwaS5vcmc{}", rng.pick(URLSAFE, 70))],
        ),
        12 => (
            "slack-token",
            vec![format!(
                "SLACK_BOT=xoxb-{}-{}-{}",
                rng.pick(DIGITS, 11),
                rng.pick(DIGITS, 12),
                rng.pick(ALNUM, 24)
            )],
        ),
        13 => (
            "slack-webhook-url",
            vec![format!(
                "url: https://hooks.slack.com/services/T{}/B{}/{}",
                rng.pick(UPPERNUM, 8),
                rng.pick(UPPERNUM, 10),
                rng.pick(ALNUM, 24)
            )],
        ),
        14 => (
            "stripe-key",
            vec![format!(
                "stripe.api_key = 'sk_live_{}'",
                rng.pick(ALNUM, 24)
            )],
        ),
        15 => {
            let mut lines = vec!["-----BEGIN RSA PRIVATE KEY-----".to_string()];
            for _ in 0..5 {
                lines.push(rng.pick(B64, 64));
            }
            lines.push("-----END RSA PRIVATE KEY-----".into());
            ("private-key", lines)
        }
        16 => (
            "jwt",
            vec![format!(
                "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}.{}",
                rng.pick(URLSAFE, 40),
                rng.pick(URLSAFE, 43)
            )],
        ),
        17 => (
            "connection-string-password",
            vec![format!(
                "DATABASE_URL=postgres://app:{}@db.internal:5432/app",
                rng.pick(ALNUM, 18)
            )],
        ),
        18 => (
            "connection-string-password",
            vec![format!(
                "  uri: \"mongodb+srv://svc:{}@cluster0.mongo.net/prod\"",
                rng.pick(ALNUM, 20)
            )],
        ),
        19 => (
            "generic-secret-assignment",
            vec![format!("api_token = \"{}\"", rng.pick(ALNUM, 32))],
        ),
        20 => (
            "generic-secret-assignment",
            vec![format!("  client_key: {}", rng.pick(B64, 40))],
        ),
        _ => (
            "generic-secret-assignment",
            vec![format!("DB_PWD={}", rng.pick(ALNUM, 24))],
        ),
    }
}

const KINDS: usize = 22;
const FILLER: &[&str] = &[
    "fn main() { println!(\"hello\"); }",
    "# settings for the service",
    "timeout: 30s",
    "let url = format!(\"https://example.com/{}\", id);",
    "",
];

/// Write the corpus under `root`; returns the expected (rule, file, line) labels.
fn write_corpus(root: &Path, rng: &mut Rng) -> Vec<(String, String, usize)> {
    let mut labels = Vec::new();
    for file_no in 0..40 {
        let ext = ["env", "yaml", "py", "js", "json", "toml"][file_no % 6];
        let name = format!("dir{}/conf_{file_no}.{ext}", file_no % 5);
        let mut text = String::new();
        let mut line = 1;
        for k in 0..KINDS {
            // Each file gets every kind once, in a shifting order, between filler lines.
            let kind = (k + file_no) % KINDS;
            let filler = FILLER[(k + file_no) % FILLER.len()];
            let _ = writeln!(text, "{filler}");
            line += 1;
            let (rule, lines) = planted(rng, kind);
            labels.push((rule.to_string(), name.clone(), line));
            for l in lines {
                let _ = writeln!(text, "{l}");
                line += 1;
            }
        }
        let path = root.join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    labels
}

fn scan(root: &Path) -> Vec<Finding> {
    let r = mno_gates::checks::security::run(root, &SecurityConfig::default());
    assert_ne!(r.status, Status::Error, "{:?}", r.detail);
    r.findings
}

#[test]
fn planted_credentials_are_found_with_recall_of_at_least_95_percent() {
    let dir = tempfile::tempdir().unwrap();
    let labels = write_corpus(dir.path(), &mut Rng(0x9E37_79B9_7F4A_7C15));
    let findings = scan(dir.path());
    let found: std::collections::HashSet<(String, String, usize)> = findings
        .iter()
        .map(|f| (f.rule_id.clone(), f.file.clone(), f.line))
        .collect();
    let missed: Vec<_> = labels.iter().filter(|l| !found.contains(*l)).collect();
    let recall = 1.0 - missed.len() as f64 / labels.len() as f64;
    let extra: Vec<_> = findings
        .iter()
        .filter(|f| !labels.contains(&(f.rule_id.clone(), f.file.clone(), f.line)))
        .collect();
    eprintln!(
        "corpus: {} planted, {} found, recall {:.1}%, {} unexpected",
        labels.len(),
        labels.len() - missed.len(),
        recall * 100.0,
        extra.len()
    );
    assert!(recall >= 0.95, "recall {recall:.3}; missed: {missed:#?}");
    assert!(extra.is_empty(), "findings that match no label: {extra:#?}");
    // Every rule is exercised by the corpus.
    for rule in mno_gates::checks::security::rules::RULES {
        assert!(
            labels.iter().any(|l| l.0 == rule.id),
            "rule {} has no planted sample",
            rule.id
        );
    }
}

#[test]
fn placeholders_give_no_findings() {
    let dir = tempfile::tempdir().unwrap();
    let text = include_str!("corpus/placeholders.txt");
    for ext in ["env", "yaml", "py"] {
        std::fs::write(dir.path().join(format!("placeholders.{ext}")), text).unwrap();
    }
    let findings = scan(dir.path());
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn no_report_contains_a_whole_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(42);
    let _ = write_corpus(dir.path(), &mut rng);
    let mut rng = Rng(42);
    let secrets: Vec<String> = (0..40 * KINDS)
        .map(|i| planted(&mut rng, i % KINDS).1[0].clone())
        .collect();
    let report = mno_gates::run_gate(dir.path(), &["security_scan"]).unwrap();
    let out = tempfile::tempdir().unwrap();
    mno_gates::write_reports(&report, out.path(), &mno_gates::ReportFormat::ALL, None).unwrap();
    let mut all = String::new();
    for f in std::fs::read_dir(out.path()).unwrap() {
        all.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap());
    }
    assert!(
        !report.validation_results["security_scan"]
            .findings
            .is_empty()
    );
    // The longest run of secret characters on each planted line must not appear in the reports.
    for line in secrets {
        let longest = line
            .split(|c: char| !(c.is_ascii_alphanumeric() || "+/_-~".contains(c)))
            .max_by_key(|s| s.len())
            .unwrap_or_default();
        if longest.len() >= 16 {
            assert!(!all.contains(longest), "a report contains {longest}");
        }
    }
}
