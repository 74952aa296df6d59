//! Every rule has samples: each positive is found by that rule, no negative by any rule.

use std::collections::HashSet;

use super::samples::{Rng, expand};
use super::{Check, builtin, crc32, crc32_base62};
use crate::checks::security::Detector;

#[test]
fn there_are_at_least_100_rules_with_unique_ids_and_keywords() {
    let rules: Vec<_> = builtin().collect();
    assert!(rules.len() >= 100, "{} rules", rules.len());
    let mut ids = HashSet::new();
    for r in &rules {
        assert!(ids.insert(r.id), "duplicate rule id {}", r.id);
        // The prefilter is what keeps the scan fast: no rule may run on every line.
        assert!(!r.keywords.is_empty(), "{} has no keywords", r.id);
        for k in r.keywords {
            assert_eq!(
                *k,
                k.to_ascii_lowercase(),
                "{}: keyword {k} is not lowercase",
                r.id
            );
        }
    }
}

#[test]
fn every_rule_finds_its_positive_samples_and_nothing_in_the_negatives() {
    let d = Detector::new(3.5, &[]).unwrap();
    let mut rng = Rng(0x5EED_0F5E_C2E7);
    let mut failures = Vec::new();
    for r in builtin() {
        assert!(!r.pos.is_empty(), "{} has no positive sample", r.id);
        assert!(!r.neg.is_empty(), "{} has no negative sample", r.id);
        for t in r.pos {
            // Several draws per template: a rule must not depend on a lucky one.
            for _ in 0..4 {
                let text = expand(t, &mut rng) + "\n";
                let hits = d.scan(text.as_bytes());
                if !hits.iter().any(|h| h.rule.id == r.id && h.line == 1) {
                    let got: Vec<_> = hits.iter().map(|h| h.rule.id).collect();
                    failures.push(format!("{}: missed {text:?} (got {got:?})", r.id));
                    break;
                }
            }
        }
        for n in r.neg {
            let hits = d.scan(format!("{n}\n").as_bytes());
            if !hits.is_empty() {
                let got: Vec<_> = hits.iter().map(|h| (h.rule.id, h.secret.clone())).collect();
                failures.push(format!("{}: flagged negative {n:?}: {got:?}", r.id));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn github_token_checksum_is_validated() {
    // The body of a real-format token: 30 random characters and their CRC-32 in base62.
    let body = "Zq7Lm2Np9Rt4Vx8Bc3Df6Gh1Jk5Wy0";
    let sum = super::base62_6(crc32(body.as_bytes()));
    assert_eq!(crc32_base62(&format!("ghp_{body}{sum}")), Check::Proven);
    assert_eq!(crc32_base62(&format!("ghp_{body}000000")), Check::Unknown);
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926, "the CRC-32 check value");
}

#[test]
fn every_rule_is_listed_in_the_gates_documentation() {
    let doc = include_str!("../../../../../../docs/gates.md");
    for r in builtin() {
        assert!(
            doc.contains(&format!("`{}`", r.id)),
            "docs/gates.md does not list {}",
            r.id
        );
    }
}
