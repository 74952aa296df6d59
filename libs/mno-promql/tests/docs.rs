//! docs/query.md stays true: it names every function and aggregation the
//! engine evaluates, and the limits it states are the defaults in force.

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/query.md");

#[test]
fn query_guide_lists_every_supported_function() {
    let doc = std::fs::read_to_string(DOC).expect("docs/query.md");
    let missing: Vec<&str> = mno_promql::supported_functions()
        .into_iter()
        .chain(mno_promql::supported_aggregations().iter().copied())
        .filter(|f| !doc.contains(&format!("`{f}`")))
        .collect();
    assert!(missing.is_empty(), "docs/query.md lacks {missing:?}");
}

#[test]
fn query_guide_states_the_default_limits() {
    let doc = std::fs::read_to_string(DOC).expect("docs/query.md");
    let o = mno_promql::QueryOptions::default();
    let grouped = |n: usize| {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    for want in [
        grouped(o.max_samples),
        grouped(o.max_points_per_series as usize),
        format!("{} s", o.timeout.as_secs()),
        format!("{} min", o.lookback_ms / 60_000),
    ] {
        assert!(doc.contains(&want), "docs/query.md does not state {want}");
    }
}
