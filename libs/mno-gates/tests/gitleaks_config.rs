//! Rule files in gitleaks' format: a team's `.gitleaks.toml` finds and suppresses what
//! gitleaks would, and what Rust's regex engine cannot run is a located error.

use std::path::Path;

use mno_gates::config::SecurityConfig;
use mno_gates::{Finding, Status};

/// In the style of gitleaks' own `config/gitleaks.toml`: rules with keywords, secret
/// groups, entropy and paths, rule allowlists (new and legacy), global allowlists.
const CONFIG: &str = r#"
title = "acme gitleaks config"

[extend]
useDefault = true
disabledRules = ["slack-webhook-url"]

[[rules]]
id = "acme-api-token"
description = "Acme internal API token"
regex = '''\b(acme_[a-z0-9]{32})\b'''
keywords = ["acme_"]
entropy = 3.0
tags = ["internal"]

    [[rules.allowlists]]
    description = "the integration-test tenant's token"
    regexes = ['''^acme_test''']

    [[rules.allowlists]]
    description = "fixtures"
    condition = "AND"
    paths = ['''(^|/)fixtures/''']
    stopwords = ["fixture"]

[[rules]]
id = "acme-db-password"
description = "Acme database password in a DSN"
regex = '''(?i)acme_dsn\s*=\s*"[^:]+:([^@"]{8,})@'''
secretGroup = 1
keywords = ["acme_dsn"]

    [rules.allowlist]
    regexTarget = "line"
    regexes = ['''#\s*example''']

[[rules]]
id = "keystore-file"
description = "Java keystore committed"
path = '''\.jks$'''

[[rules]]
id = "legacy-internal-key"
description = "a rule with no keywords runs on every file"
regex = '''LEGACY-KEY-[0-9]{6}-[A-Z]{6}'''

[allowlist]
description = "global allowlist"
paths = ['''(^|/)vendor/''']

[[allowlists]]
description = "generated docs may show the shape"
targetRules = ["acme-api-token"]
regexTarget = "match"
regexes = ['''acme_0{32}''']
"#;

fn token(seed: u64) -> String {
    let mut x = seed;
    (0..32)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"abcdefghijklmnopqrstuvwxyz0123456789"[(x % 36) as usize] as char
        })
        .collect()
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn scan(root: &Path, cfg: &SecurityConfig) -> Vec<Finding> {
    let r = mno_gates::checks::security::run(root, cfg);
    assert_ne!(r.status, Status::Error, "{:?}", r.detail);
    r.findings
}

fn found(findings: &[Finding]) -> Vec<(String, String, usize)> {
    let mut v: Vec<_> = findings
        .iter()
        .map(|f| (f.rule_id.clone(), f.file.clone(), f.line))
        .collect();
    v.sort();
    v
}

fn github_token() -> String {
    format!("ghp_{}", "Zq7Lm2Xv9Kp4Rt8Wn3Bc6Hd1Fg5Js0Ty2Ue7")
}

fn write_tree(root: &Path) {
    write(
        root,
        "app/settings.py",
        &format!(
            "ACME_TOKEN = \"acme_{}\"\nTEST_TENANT = \"acme_test{}\"\nGH = \"{}\"\nacme_dsn = \"svc:Hq7rT2mZ9xKp@db\"\nacme_dsn = \"svc:Wz8yU3nA0bLq@db\"  # example\n",
            token(1),
            &token(2)[..28],
            github_token()
        ),
    );
    write(
        root,
        "fixtures/fixture_tokens.txt",
        &format!("acme_fixture{}\n", &token(3)[..25]),
    );
    write(root, "fixtures/other.txt", &format!("acme_{}\n", token(4)));
    write(
        root,
        "vendor/lib/config.py",
        &format!("KEY = \"acme_{}\"\n", token(5)),
    );
    write(root, "docs/shape.md", &format!("acme_{}\n", "0".repeat(32)));
    write(root, "keys/release.jks", "not really a keystore\n");
    write(root, "ops/notes.txt", "old key: LEGACY-KEY-123456-ABCDEF\n");
    write(
        root,
        "ops/hooks.env",
        &format!(
            "HOOK=https://hooks.slack.com/services/T{}/B{}/{}\n",
            "Q3ZT7WX2", "L9MNB5KRD4", "aB3dE5fG7hJ9kL1mN3pQ5rS7"
        ),
    );
}

#[test]
fn gitleaks_rules_file_is_read_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    write(dir.path(), "security/gitleaks.toml", CONFIG);
    let cfg = SecurityConfig {
        gitleaks_config: Some("security/gitleaks.toml".into()),
        ..SecurityConfig::default()
    };
    let got = found(&scan(dir.path(), &cfg));
    let want = |r: &str, f: &str, l: usize| (r.to_string(), f.to_string(), l);
    assert_eq!(
        got,
        vec![
            // Found: the custom token, the DSN password (secretGroup), the built-in GitHub
            // rule (useDefault), the fixture outside the AND allowlist's stopword, the
            // path-only rule, and the rule without keywords.
            want("acme-api-token", "app/settings.py", 1),
            want("acme-api-token", "fixtures/other.txt", 1),
            want("acme-db-password", "app/settings.py", 4),
            want("github-token", "app/settings.py", 3),
            want("keystore-file", "keys/release.jks", 1),
            want("legacy-internal-key", "ops/notes.txt", 1),
        ],
        "suppressed: acme_test (rule regex), the fixture file with the stopword (AND), the \
         `# example` line (legacy allowlist, line target), vendor/ (global paths), the \
         all-zero token (global allowlist for that rule, match target), and the Slack \
         webhook (disabledRules)"
    );
}

#[test]
fn gitleaks_file_without_use_default_replaces_the_built_in_rules() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    let replacing = CONFIG.replace("useDefault = true", "useDefault = false");
    write(dir.path(), "gitleaks.toml", &replacing);
    let cfg = SecurityConfig {
        gitleaks_config: Some("gitleaks.toml".into()),
        ..SecurityConfig::default()
    };
    let got = scan(dir.path(), &cfg);
    assert!(got.iter().all(|f| f.rule_id != "github-token"), "{got:#?}");
    assert!(got.iter().any(|f| f.rule_id == "acme-api-token"));
}

#[test]
fn auto_detected_gitleaks_file_never_turns_the_built_in_rules_off() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    // A pull request adding this file must not switch secret scanning off.
    let hostile = "[[rules]]\nid = \"nothing\"\nregex = '''x{1000}'''\nkeywords = [\"zzz\"]\n";
    write(dir.path(), ".gitleaks.toml", hostile);
    let got = scan(dir.path(), &SecurityConfig::default());
    assert!(got.iter().any(|f| f.rule_id == "github-token"), "{got:#?}");
    // The auto-detected file's own rules do apply.
    write(dir.path(), ".gitleaks.toml", CONFIG);
    let got = scan(dir.path(), &SecurityConfig::default());
    assert!(got.iter().any(|f| f.rule_id == "acme-api-token"));
    // `gitleaks_config: ""` turns the lookup off.
    let off = SecurityConfig {
        gitleaks_config: Some(String::new()),
        ..SecurityConfig::default()
    };
    assert!(
        scan(dir.path(), &off)
            .iter()
            .all(|f| f.rule_id != "acme-api-token")
    );
}

#[test]
fn gitleaks_extend_path_reads_the_base_file() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    write(dir.path(), "cfg/base.toml", CONFIG);
    write(
        dir.path(),
        "cfg/team.toml",
        "[extend]\npath = \"base.toml\"\n\n[[rules]]\nid = \"acme-api-token\"\nregex = '''\\b(acme_[a-z0-9]{32})\\b'''\nkeywords = [\"acme_\"]\n",
    );
    let cfg = SecurityConfig {
        gitleaks_config: Some("cfg/team.toml".into()),
        ..SecurityConfig::default()
    };
    let got = found(&scan(dir.path(), &cfg));
    // The team file's rule replaced the base's (its allowlists gone: acme_test is found);
    // the base's other rules and `useDefault` still hold.
    assert!(
        got.iter()
            .any(|(r, f, l)| r == "acme-api-token" && f == "app/settings.py" && *l == 2),
        "{got:#?}"
    );
    assert!(got.iter().any(|(r, ..)| r == "github-token"));
    assert!(got.iter().any(|(r, ..)| r == "keystore-file"));
}

#[test]
fn unsupported_gitleaks_regex_is_a_located_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[[rules]]\nid = \"ok\"\nregex = '''abc'''\n\n[[rules]]\nid = \"lookbehind\"\nregex = '''(?<=key=)[a-z]{10}'''\nkeywords = [\"key=\"]\n";
    write(dir.path(), ".gitleaks.toml", text);
    let r = mno_gates::checks::security::run(dir.path(), &SecurityConfig::default());
    assert_eq!(r.status, Status::Error);
    let detail = r.detail.unwrap_or_default();
    assert!(detail.contains(".gitleaks.toml:7:9:"), "{detail}");
    assert!(detail.contains("rule \"lookbehind\""), "{detail}");
    assert!(detail.contains("look-around"), "{detail}");

    write(dir.path(), ".gitleaks.toml", "[[rules]\nid = 1\n");
    let r = mno_gates::checks::security::run(dir.path(), &SecurityConfig::default());
    assert_eq!(r.status, Status::Error);
    assert!(r.detail.unwrap_or_default().contains(".gitleaks.toml:1:"));
}
