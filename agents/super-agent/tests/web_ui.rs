//! The SuperAgent's web interface end to end: the OpenAPI document against the routes in
//! `src/`, the `/ui` page and a gate run's rendered report in headless Chromium (no console
//! message, screenshots at 1280 and 390 px in `<target>/test-artifacts/`), Swagger UI with the
//! network off, and schemathesis against `/openapi.json`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use mno_testkit::web::{self, Chromium, NETWORK_OFF};
use serde_json::{Value, json};

const TOKEN: &str = "web-ui-token-0123456789";

/// (METHOD, path) of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in item.as_object().expect("path item").keys() {
            out.insert((m.to_ascii_uppercase(), path.clone()));
        }
    }
    out
}

/// A route added with `.route(...)` but not annotated and listed in `ApiDoc` fails here.
#[test]
fn openapi_document_lists_every_route_in_src() {
    let doc = super_agent::api::openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);
    let declared = web::declared_routes(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(declared.len() >= 12, "found only {declared:?}");
    let missing: Vec<String> = declared
        .iter()
        .filter(|r| !ops.contains(&(r.method.clone(), r.path.clone())))
        .map(|r| format!("{} {} ({})", r.method, r.path, r.at))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document (annotate the handler with #[utoipa::path] \
         and add it to ApiDoc's paths(...) in src/api/openapi.rs; docs/api.md):\n{}",
        missing.join("\n")
    );
    // Every `$ref` resolves: the message schemas came in from schemars.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref to {name}"
        );
    }
    // The envelope's schema is the real one, not a placeholder.
    assert!(doc["components"]["schemas"]["Envelope"]["properties"]["meta"].is_object());
}

fn start(dir: &Path) -> Server {
    Server::start(
        dir,
        Opts {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    )
}

/// Every documented operation is served: none falls through to the 404/405 fallbacks.
#[test]
fn every_documented_operation_is_routed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let http = Http::new();
    for (method, path) in operations(&super_agent::api::openapi::document()) {
        let url = server.url(
            &path
                .replace("{validation_id}", "gate-1-00000000")
                .replace("{file}", "report.md"),
        );
        let r = http
            .try_send(&method, &url, &[], None)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_ne!(r.status, 405, "{method} {path}: {}", r.text());
        assert!(
            !(r.status == 404 && r.text().contains("no route for")),
            "{method} {path} is documented but not routed: {}",
            r.text()
        );
    }
}

/// A repository whose registry breaks two rules (findings with file, line and column).
fn write_failing_repo(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(
        root.join("root.modules.yaml"),
        "modules:\n  - name: Bad Name\n    version: one\n",
    )
    .unwrap();
}

/// Run one gate and record one incident; returns the finished job.
fn populate(server: &Server, http: &Http) -> Value {
    write_failing_repo(&server.dir.join("repos/app"));
    let r = http.post(
        &server.url("/api/v1/gates?wait=true"),
        &server.auth(),
        &gate_payload(7, "app"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let job = r.json();
    assert_eq!(job["response"]["overall_status"], "FAILED", "{job:#}");
    let incident = json!({
        "alertname": "HighCPU <script>",
        "severity": "critical",
        "status": "firing",
        "annotations": {"summary": "CPU above 90% for 5m on host-1"},
        "source": "auto-monitor",
    });
    let r = http.post(
        &server.url("/message"),
        &server.auth(),
        &envelope("IncidentSignal", "inc-1", incident),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    job
}

#[test]
fn ui_lists_runs_and_incidents_and_renders_the_report() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let http = Http::new();
    let job = populate(&server, &http);
    let id = job["validation_id"].as_str().unwrap().to_string();
    let gate_path = format!("/ui/gates/{id}");

    for path in ["/ui", gate_path.as_str()] {
        let r = http.get(&server.url(path));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let html = r.text();
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path} names an external URL"
        );
        assert!(
            !html.contains("<script"),
            "{path} has a script (or unescaped input)"
        );
        for link in web::asset_links(&html) {
            if link.starts_with("data:") || link.starts_with('#') {
                continue;
            }
            assert!(link.starts_with('/'), "{path}: link {link:?} is not local");
            assert_eq!(http.get(&server.url(&link)).status, 200, "{path}: {link}");
        }
    }

    // The list, in the browser.
    let run = chromium.dump_dom(&server.url("/ui"), &NETWORK_OFF);
    let dom = &run.stdout;
    assert!(dom.contains(&format!("href=\"/ui/gates/{id}\"")), "{dom}");
    assert!(dom.contains("FAILED"));
    assert!(
        dom.contains("HighCPU &lt;script&gt;"),
        "the incident is missing or unescaped"
    );
    assert!(dom.contains("CPU above 90% for 5m on host-1"));
    assert!(run.console.is_empty(), "console: {:?}", run.console);

    // The report: every check, every finding with its place.
    let run = chromium.dump_dom(&server.url(&gate_path), &NETWORK_OFF);
    let dom = &run.stdout;
    let results = job["response"]["validation_results"].as_object().unwrap();
    assert!(!results.is_empty());
    let mut findings = 0;
    for (name, check) in results {
        assert!(
            dom.contains(&format!("id=\"check-{name}\"")),
            "no section for {name}"
        );
        for f in check["findings"].as_array().unwrap() {
            findings += 1;
            let place = format!(
                "{}:{}:{}",
                f["file"].as_str().unwrap(),
                f["line"],
                f["column"]
            );
            assert!(dom.contains(&place), "finding at {place} not rendered");
            assert!(dom.contains(f["rule_id"].as_str().unwrap()));
        }
    }
    assert!(findings >= 2, "{job:#}");
    assert!(run.console.is_empty(), "console: {:?}", run.console);

    let out = web::artifacts_dir();
    for (path, stem) in [
        ("/ui", "superagent-ui"),
        (gate_path.as_str(), "superagent-report"),
    ] {
        for (w, h) in [(1280, 900), (390, 844)] {
            chromium.screenshot(
                &server.url(path),
                w,
                h,
                &out.join(format!("{stem}-{w}.png")),
                &NETWORK_OFF,
            );
        }
    }
    println!("screenshots in {}", out.display());

    // Unknown runs are JSON 404s.
    let r = http.get(&server.url("/ui/gates/gate-9-deadbeef"));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "unknown_validation_id");
}

#[test]
fn swagger_ui_renders_with_the_network_off() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let html = Http::new().get(&server.url("/docs/")).text();
    for link in web::asset_links(&html) {
        assert!(
            !link.contains("://") && !link.starts_with("//"),
            "Swagger UI loads {link:?} from elsewhere"
        );
    }
    let run = chromium.dump_dom(&server.url("/docs/"), &NETWORK_OFF);
    for (_, path) in operations(&super_agent::api::openapi::document()) {
        assert!(
            run.stdout.contains(&format!("data-path=\"{path}\"")),
            "Swagger UI did not render {path}"
        );
    }
    assert!(
        !run.console.iter().any(|l| l.contains("rror")),
        "console errors on /docs:\n{}",
        run.console.join("\n")
    );
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let Some(st) = web::schemathesis() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let http = Http::new();
    populate(&server, &http);
    let out = std::process::Command::new(st)
        .args([
            "run",
            &server.url("/openapi.json"),
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "25",
            // One worker: hypothesis' lambda-source cache is not thread-safe on Python 3.11.
            "--workers",
            "1",
            "--request-timeout",
            "60",
            "--header",
            &format!("Authorization: Bearer {TOKEN}"),
        ])
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::write(
        web::artifacts_dir().join("schemathesis-super-agent.txt"),
        &text,
    );
    assert!(out.status.success(), "schemathesis failed:\n{text}");
    assert!(text.contains("passed"), "{text}");
}
