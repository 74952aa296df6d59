//! JSON shapes of jobs as the API shows them (links instead of bare ids).

use serde_json::{Value, json};

use crate::state::JobRecord;

/// The report files a job may have, with their content types.
pub const REPORT_FILES: &[(&str, &str)] = &[
    ("report.json", "application/json"),
    ("report.md", "text/markdown; charset=utf-8"),
    ("report.sarif", "application/sarif+json"),
    ("junit.xml", "application/xml"),
];

/// `{self, reports: {name: url}}` of a job.
pub fn links(validation_id: &str) -> Value {
    json!({ "self": format!("/api/v1/gates/{validation_id}") })
}

/// The URL of one report file.
pub fn report_url(validation_id: &str, file: &str) -> String {
    format!("/api/v1/gates/{validation_id}/reports/{file}")
}

/// A short reference: id, status, links (the 202 answer, list entries).
pub fn job_ref(job: &JobRecord) -> Value {
    let mut v = json!({
        "validation_id": job.validation_id,
        "status": job.status.as_str(),
        "created_at": job.created_at,
        "links": links(&job.validation_id),
    });
    if let Some(r) = &job.response {
        v["overall_status"] = r.overall_status.as_str().into();
    }
    if let Some(e) = &job.error {
        v["error"] = e.clone().into();
    }
    v
}

/// The whole job: status, times, request, the response once done, report files and URLs.
pub fn job_view(job: &JobRecord) -> Value {
    let mut v = serde_json::to_value(job).unwrap_or_else(|_| json!({}));
    let mut reports = serde_json::Map::new();
    for name in &job.reports {
        let path = job
            .reports_dir
            .as_ref()
            .map(|d| std::path::Path::new(d).join(name).display().to_string());
        reports.insert(
            name.clone(),
            json!({ "path": path, "url": report_url(&job.validation_id, name) }),
        );
    }
    v["reports"] = Value::Object(reports);
    v["links"] = links(&job.validation_id);
    v
}
