//! docs/registry.md documents every rule id the code can report.

use std::path::Path;

#[test]
fn every_rule_id_in_the_code_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("../../docs/registry.md")).unwrap();
    let prefixes = [
        "yaml",
        "load",
        "schema",
        "module",
        "version",
        "deps",
        "stage",
        "autostart",
        "resources",
        "capacity",
        "priority",
        "health",
        "run",
        "legacy",
    ];
    let mut ids = std::collections::BTreeSet::new();
    let mut dirs = vec![root.join("src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for prefix in prefixes {
                let needle = format!("\"{prefix}.");
                for (i, _) in text.match_indices(&needle) {
                    let rest = &text[i + 1..];
                    let Some(end) = rest.find('"') else { continue };
                    let lit = &rest[..end];
                    let tail = &lit[prefix.len() + 1..];
                    if !tail.is_empty() && tail.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    {
                        ids.insert(lit.to_string());
                    }
                }
            }
        }
    }
    assert!(ids.len() > 40, "found only {ids:?}");
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !doc.contains(&format!("`{id}`")))
        .collect();
    assert!(missing.is_empty(), "docs/registry.md lacks {missing:?}");
}
