//! `rules check FILE` against `promtool check rules` on the same files: what promtool
//! refuses we refuse (a list, a single value, an unknown key at any level, a bad
//! expression in any rule), what it accepts we accept (an empty file, `groups: []`,
//! `groups: null`), and a PromQL syntax error names its line and column and the
//! unexpected token.

mod common;
use common::*;

/// Run `rules check` on `yaml`: (exit status, stdout + stderr, file path).
fn ours(yaml: &str) -> (i32, String, String) {
    let (_dir, path) = config_file(yaml);
    let o = run(&["rules", "check", path.to_str().unwrap()], &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (
        o.status.code().unwrap_or(-1),
        text,
        path.display().to_string(),
    )
}

/// (file text, whether it is a rule file, what our message must say when it is not).
const CASES: &[(&str, bool, &str)] = &[
    ("foo: bar\n", false, ":1:1: foo: unknown key"),
    (
        "groups:\n- name: g\n  rules: []\nextra: 1\n",
        false,
        ":4:1: extra: unknown key",
    ),
    (
        "- a\n- b\n",
        false,
        ":1:1: (document): not a rule file: expected a mapping with a `groups:` list",
    ),
    ("\"text\"\n", false, ":1:1: (document): not a rule file"),
    ("groups: 5\n", false, ":1:9: groups: expected a list"),
    (
        "groups:\n- name: g\n  foo: 1\n  rules: []\n",
        false,
        ":3:3: groups.0.foo: unknown key",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    bogus: 2\n",
        false,
        ":6:5: groups.0.rules.0.bogus: unknown key",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: \"x + )\"\n",
        false,
        ":5:17: groups.0.rules.0.expr: 1:6: parse error: unexpected right parenthesis ')'",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5x\n",
        false,
        ":6:10: groups.0.rules.0.for: \"5x\": unknown unit \"x\" (ms, s, m, h, d, w, y)\n",
    ),
    ("", true, ""),
    ("# only a comment\n", true, ""),
    ("null\n", true, ""),
    ("{}\n", true, ""),
    ("groups: []\n", true, ""),
    ("groups: null\n", true, ""),
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n",
        true,
        "",
    ),
];

#[test]
fn non_rule_files_fail_like_promtool() {
    let promtool = tool("promtool");
    for (yaml, valid, want) in CASES {
        let (code, out, file) = ours(yaml);
        if *valid {
            assert_eq!(code, 0, "{yaml:?}: {out}");
            assert!(out.contains("SUCCESS"), "{yaml:?}: {out}");
        } else {
            assert_eq!(code, 2, "{yaml:?} must fail: {out}");
            assert!(!out.contains("SUCCESS"), "{yaml:?}: {out}");
            assert!(
                out.contains(&format!("{file}{want}")),
                "{yaml:?}: want {want}\n{out}"
            );
        }
        if let Some(p) = &promtool {
            let (_dir, path) = config_file(yaml);
            let o = std::process::Command::new(p)
                .args(["check", "rules", path.to_str().unwrap()])
                .output()
                .unwrap();
            assert_eq!(
                o.status.success(),
                *valid,
                "promtool disagrees on {yaml:?}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

#[test]
fn promql_parse_errors_name_position_and_token() {
    // (expression as written in the file, our location:message, promtool's message part)
    let cases: &[(&str, &str, &str)] = &[
        (
            "expr: up ==",
            ":5:16: groups.0.rules.0.expr: 1:6: parse error: unexpected end of input",
            "1:6: parse error: unexpected end of input",
        ),
        (
            "expr: up == bar baz",
            ":5:21: groups.0.rules.0.expr: 1:11: parse error: unexpected identifier \"baz\"",
            "1:11: parse error: unexpected identifier \"baz\"",
        ),
        (
            "expr: sum(rate(x[5m]) by (job)",
            ":5:27: groups.0.rules.0.expr: 1:17: parse error: unexpected <by> in aggregation",
            "1:17: parse error: unexpected <by> in aggregation",
        ),
        (
            "expr: 'up{job=\"a\"} and on() vector(1) +'",
            ":5:44: groups.0.rules.0.expr: 1:33: parse error: unexpected end of input",
            "1:33: parse error: unexpected end of input",
        ),
        (
            "expr: |\n      sum by (job) (\n        rate(x[5m] ) ) )",
            ":7:25: groups.0.rules.0.expr: 2:19: parse error: unexpected right parenthesis ')'",
            "2:19: parse error: unexpected right parenthesis ')'",
        ),
    ];
    let promtool = tool("promtool");
    for (expr, want, prom_says) in cases {
        let yaml = format!("groups:\n- name: g\n  rules:\n  - alert: A\n    {expr}\n");
        let (code, out, file) = ours(&yaml);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(&format!("{file}{want}")), "want {want}\n{out}");
        if let Some(p) = &promtool {
            let (_dir, path) = config_file(&yaml);
            let o = std::process::Command::new(p)
                .args(["check", "rules", path.to_str().unwrap()])
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(text.contains(prom_says), "promtool: {text}");
        }
    }
}
