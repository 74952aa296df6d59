//! The user docs stay true: every family the agent exposes on this host is in
//! docs/metrics.md, and every environment variable the loader reads is in
//! docs/configuration.md.

mod common;
use common::*;

const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/");

#[test]
fn metrics_reference_lists_every_family() {
    let doc = std::fs::read_to_string(format!("{DOCS}metrics.md")).unwrap();
    let o = run(&["collect", "--once"], &[]);
    assert!(o.status.success());
    let fams = parse_text(&String::from_utf8(o.stdout).unwrap());
    let missing: Vec<&String> = fams
        .keys()
        .filter(|n| !n.starts_with("node_memory_") && !n.starts_with("node_vmstat_"))
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(missing.is_empty(), "docs/metrics.md lacks {missing:?}");
}

#[test]
fn configuration_guide_lists_every_environment_variable() {
    let doc = std::fs::read_to_string(format!("{DOCS}configuration.md")).unwrap();
    for v in machinenativenops_auto_monitor::config::ENV_VARS {
        assert!(
            doc.contains(&format!("`{v}`")),
            "docs/configuration.md lacks {v}"
        );
    }
    for c in machinenativenops_auto_monitor::collectors::NAMES {
        assert!(
            doc.contains(&format!("`{c}`")),
            "docs/configuration.md lacks collector {c}"
        );
    }
}
