//! The web interface end to end: the OpenAPI document against the routes in `src/`, the
//! dashboard in headless Chromium over really collected data (charts hold data lines, no
//! console message, screenshots at 1280 and 390 px in `<target>/test-artifacts/`), Swagger UI
//! rendering with the network off, and schemathesis against `/openapi.json`.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use mno_testkit::web::{self, Chromium, NETWORK_OFF};
use serde_json::Value;

const TOKEN: &str = "web-ui-token-0123456789";

fn document() -> Value {
    serde_json::to_value(machinenativenops_auto_monitor::api::openapi::document())
        .expect("document serializes")
}

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
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let declared = web::declared_routes(&src);
    assert!(declared.len() >= 20, "found only {declared:?}");
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
    // Every operation has an operationId, and they are unique.
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().expect("operationId").to_string();
            assert!(ids.insert(id.clone()), "duplicate operationId {id}");
        }
    }
}

/// A local HTTP server the agent's HTTP check probes (the latency chart's data).
fn probe_target() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { break };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            std::thread::sleep(Duration::from_millis(3));
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    port
}

fn start_agent() -> Agent {
    let probe = probe_target();
    let yaml = format!(
        "monitoring:\n  interval: 1\nhttp_checks:\n  - name: probe\n    url: http://127.0.0.1:{probe}/\n    interval: 0.5\n"
    );
    let mut a = Agent::start(&yaml, &[("MNO_API_TOKEN", TOKEN)]);
    a.wait_ready(Duration::from_secs(30));
    a
}

/// Every documented operation is served: none falls through to the 404/405 fallbacks.
#[test]
fn every_documented_operation_is_routed() {
    let a = start_agent();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    machinenativenops_auto_monitor::install_crypto_provider();
    let client = reqwest::Client::new();
    for (method, path) in operations(&document()) {
        let url = a.url(&path.replace("{name}", "job").replace("{id}", "nope"));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = rt.block_on(async {
            let r = client.request(m, &url).send().await.expect("request");
            let s = r.status().as_u16();
            (s, r.text().await.unwrap_or_default())
        });
        assert_ne!(status, 405, "{method} {path}: {body}");
        assert!(
            !(status == 404 && body.contains("no route for")),
            "{method} {path} is documented but not routed: {body}"
        );
    }
}

/// The `<figure id="chart-NAME">` element of the DOM.
fn figure<'a>(dom: &'a str, name: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"chart-{name}\""))
        .unwrap_or_else(|| panic!("no chart {name} in the DOM"));
    let end = dom[start..].find("</figure>").expect("figure end") + start;
    &dom[start..end]
}

/// Points drawn by the data lines of a chart (`M`/`L` commands in `path.line`).
fn points(fig: &str) -> usize {
    let mut n = 0;
    for part in fig.split("<path class=\"line").skip(1) {
        let d = part
            .split(" d=\"")
            .nth(1)
            .and_then(|p| p.split('"').next())
            .unwrap_or("");
        n += d.matches(['M', 'L']).count();
    }
    n
}

#[test]
fn dashboard_in_chromium_with_collected_data() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let a = start_agent();
    // Let a few ticks (and HTTP probes) reach the store.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, _, body) = http_get(&a.url("/?range=5m"), &[]).expect("dashboard");
        let html = String::from_utf8(body).unwrap();
        if ["cpu", "memory", "disk", "network", "latency"]
            .iter()
            .all(|c| points(figure(&html, c)) >= 4)
        {
            break;
        }
        assert!(Instant::now() < deadline, "charts never filled:\n{html}");
        std::thread::sleep(Duration::from_millis(500));
    }

    // The HTML itself: no external asset, no external link; every link answers.
    let (status, h, body) = http_get(&a.url("/"), &[]).unwrap();
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let html = String::from_utf8(body).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the dashboard names an external URL"
    );
    assert!(html.contains("http-equiv=\"refresh\""));
    assert!(html.contains("prefers-color-scheme: dark"));
    for link in web::asset_links(&html) {
        if link.starts_with("data:") {
            continue;
        }
        assert!(link.starts_with('/'), "link {link:?} is not local");
        let (status, _, _) = http_get(&a.url(&link), &[]).unwrap();
        assert_eq!(status, 200, "{link}");
    }

    // In the browser: the rendered DOM has every chart with data and every section.
    let run = chromium.dump_dom(&a.url("/?range=5m"), &NETWORK_OFF);
    let dom = &run.stdout;
    for c in ["cpu", "memory", "disk", "network", "latency"] {
        let fig = figure(dom, c);
        assert!(
            points(fig) >= 4,
            "chart {c} has no data line in the DOM:\n{fig}"
        );
        assert!(!fig.contains("no data in this range"), "{c}: {fig}");
    }
    for id in ["summary", "alerts", "collectors"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "no #{id} in the DOM");
    }
    assert!(dom.contains(">probe<"), "the HTTP check is not listed");
    assert!(
        run.console.is_empty(),
        "console messages on the dashboard:\n{}",
        run.console.join("\n")
    );

    // Screenshots at both widths (and the dark scheme) for people to look at.
    let dir = web::artifacts_dir();
    for (w, h, name, extra) in [
        (1280, 900, "dashboard-1280.png", &[][..]),
        (390, 844, "dashboard-390.png", &[][..]),
        (
            1280,
            900,
            "dashboard-1280-dark.png",
            &["--blink-settings=preferredColorScheme=0"][..],
        ),
    ] {
        let mut flags = NETWORK_OFF.to_vec();
        flags.extend_from_slice(extra);
        chromium.screenshot(&a.url("/?range=5m"), w, h, &dir.join(name), &flags);
    }
    println!("screenshots in {}", dir.display());
    // A bad range is a JSON 400, not a page.
    let (status, _, body) = http_get(&a.url("/?range=3y"), &[]).unwrap();
    assert_eq!(status, 400);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "bad_request");
    assert!(v["detail"].as_str().unwrap().contains("15m"));
}

#[test]
fn swagger_ui_renders_with_the_network_off() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let a = start_agent();
    let (status, _, body) = http_get(&a.url("/docs/"), &[]).unwrap();
    assert_eq!(status, 200);
    let html = String::from_utf8(body).unwrap();
    for link in web::asset_links(&html) {
        assert!(
            !link.contains("://") && !link.starts_with("//"),
            "Swagger UI loads {link:?} from elsewhere"
        );
    }
    let run = chromium.dump_dom(&a.url("/docs/"), &NETWORK_OFF);
    let dom = &run.stdout;
    for (_, path) in operations(&document()) {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "Swagger UI did not render {path}:\n{}",
            &dom[..dom.len().min(3000)]
        );
    }
    assert!(
        !run.console.iter().any(|l| l.contains("rror")),
        "console errors on /docs:\n{}",
        run.console.join("\n")
    );
    let mut flags = NETWORK_OFF.to_vec();
    flags.push("--virtual-time-budget=10000");
    chromium.screenshot(
        &a.url("/docs/"),
        1280,
        900,
        &web::artifacts_dir().join("monitor-docs-1280.png"),
        &flags,
    );
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let Some(st) = web::schemathesis() else {
        return;
    };
    let a = start_agent();
    let out = std::process::Command::new(st)
        .args([
            "run",
            &a.url("/openapi.json"),
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "25",
            // One worker: hypothesis' lambda-source cache is not thread-safe on Python 3.11
            // ("AST constructor recursion depth mismatch").
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--header",
            &format!("Authorization: Bearer {TOKEN}"),
        ])
        .env("NO_COLOR", "1")
        .current_dir(a.dir.path())
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::write(web::artifacts_dir().join("schemathesis-monitor.txt"), &text);
    assert!(out.status.success(), "schemathesis failed:\n{text}");
    assert!(text.contains("passed"), "{text}");
}
