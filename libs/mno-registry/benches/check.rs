//! Checking a generated registry of 5,000 modules with 20,000 dependency edges.
//!
//! `cargo bench -p mno-registry --bench check` (or `scripts/bench/registry.sh`). Prints the
//! median and best of several runs of the whole check (parse the YAML text, map, validate,
//! plan) against the 100 ms target, for two registries with the same graph: a lean one
//! (name, version, group, priority, dependencies, stage) and a full one (every module
//! also with resources, a health check, run and env), which is about twice the text.
//! `MNO_BENCH_PHASES=1` also prints where the time goes. No reference tool exists for
//! this format, so there is no ratio.

use std::time::{Duration, Instant};

const MODULES: usize = 5_000;
const EDGES: usize = 20_000;
const STAGES: usize = 5;
const TARGET: Duration = Duration::from_millis(100);

/// A registry where module `i` depends on earlier modules only (no cycles), stages grow
/// with `i` (so the stage rule holds), and priorities are unique within each group of 100.
fn generate(full: bool) -> (String, usize) {
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); MODULES];
    let mut edges = 0;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    'fill: loop {
        for (i, d) in deps.iter_mut().enumerate().skip(1) {
            if edges == EDGES {
                break 'fill;
            }
            if d.len() >= i {
                continue;
            }
            // A small LCG: deterministic, no dependency for randomness.
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let j = (seed >> 33) as usize % i;
            if !d.contains(&j) {
                d.push(j);
                edges += 1;
            }
        }
    }
    let mut s = String::with_capacity(3 << 20);
    s.push_str("modules:\n");
    for (i, d) in deps.iter().enumerate() {
        let stage = 1 + i * STAGES / MODULES;
        let list: Vec<String> = d
            .iter()
            .map(|j| format!("\"m{j} (>=1.0.0, <2.0.0)\""))
            .collect();
        s.push_str(&format!(
            "  - name: m{i}\n    version: 1.{}.{}\n    group: g{}\n    priority: {}\n    dependencies: [{}]\n    load_sequence: {{ stage: {stage}, auto_start: true }}\n",
            i % 7,
            i % 13,
            i / 100,
            i % 100,
            list.join(", "),
        ));
        if full {
            s.push_str(&format!(
                "    resources:\n      cpu: {{ request: 10m, limit: 500m }}\n      memory: {{ request: 16Mi, limit: 1Gi }}\n    health_check: {{ http: \"http://127.0.0.1:{}/health\", interval: 5s, timeout: 2s, retries: 3 }}\n    run: {{ command: [module-{i}, serve], env: {{ MNO_LOG_LEVEL: INFO }} }}\n",
                20_000 + i
            ));
        }
    }
    s.push_str("stages:\n");
    for n in 1..=STAGES {
        s.push_str(&format!("  {n}: Stage {n}\n"));
    }
    s.push_str("capacity: { cpu: 64, memory: 256Gi }\n");
    (s, edges)
}

fn main() {
    println!(
        "registry check: {MODULES} modules, {EDGES} dependency edges, target < {} ms",
        TARGET.as_millis()
    );
    for (label, full) in [("lean", false), ("full", true)] {
        run(label, full);
    }
    println!("  no reference tool checks root.modules.yaml, so no ratio is printed");
}

fn run(label: &str, full: bool) {
    let (text, edges) = generate(full);
    assert_eq!(edges, EDGES);
    let once =
        mno_registry::check_str("generated.yaml", &text).expect("the generated registry loads");
    assert!(
        once.report.is_valid(),
        "generated registry has errors: {:?}",
        once.report.findings.first()
    );
    assert!(mno_registry::plan(&once).is_ok());
    if std::env::var_os("MNO_BENCH_PHASES").is_some() {
        phases(&text);
    }
    let mut times = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let c = mno_registry::check_str("generated.yaml", &text).expect("loads");
        let p = mno_registry::plan(&c).expect("plans");
        std::hint::black_box((&c.report, &p));
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "  {label} ({:.1} MiB of YAML): check + plan median {:.1} ms, best {:.1} ms over {} runs: target {}",
        text.len() as f64 / (1 << 20) as f64,
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times.len(),
        if median < TARGET { "met" } else { "NOT met" }
    );
}

fn phases(text: &str) {
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let n = serde_saphyr::granit_parser::Parser::new_from_str(text).count();
    println!("    YAML parser events alone: {:.1} ms ({n} events)", ms(t));
    let t = Instant::now();
    std::hint::black_box(mno_registry::tree::parse("g", text).expect("parses"));
    println!("    located tree: {:.1} ms", ms(t));
    let t = Instant::now();
    std::hint::black_box(mno_registry::load_str("g", text).expect("loads"));
    println!("    tree + mapping to the model: {:.1} ms", ms(t));
}
