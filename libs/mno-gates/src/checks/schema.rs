//! `schema_validation`: YAML and JSON files against JSON Schemas, every violation located.
//!
//! Which file goes with which schema comes from `schema_validation.mappings`
//! (globs → schema file). Without mappings, files that name their own schema
//! are checked (a `# yaml-language-server: $schema=<path>` modeline, as the
//! YAML language server reads it; a JSON `"$schema"` key naming a local
//! file), plus this repository's conventions (`root.modules.yaml`,
//! `root.gates.yaml`) when their schemas exist under `schemas/`.
//!
//! Schemas are drafts 4 to 2020-12, picked from `$schema` (2020-12 when it is
//! absent), compiled once per run by the `jsonschema` crate, and may `$ref`
//! other local files: references resolve against the referring file's location
//! and are read only from inside the repository (see [`retrieve`]). A schema
//! that does not compile is a finding on the schema file
//! (`schema.invalid-schema`, `schema.ref-unresolvable`), and the files mapped
//! to it are not validated; the gate itself still runs.
//!
//! Each violation is located at the offending node: JSON Schema's instance
//! path (a JSON Pointer) is looked up in an index built from the YAML event
//! stream (`mno_common::PathIndex`; JSON is YAML 1.2, so one index serves both).

mod parse;
mod retrieve;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use globset::GlobSet;
use ignore::WalkBuilder;
use jsonschema::Draft;
use jsonschema::error::ValidationErrorKind;
use mno_common::{Location, PathIndex};
use serde_json::Value;

use self::parse::{Document, Format, locate, parse_documents};
use self::retrieve::{LocalRetriever, Log, ref_target, refs};
use crate::config::{CONFIG_FILE, SchemaConfig};
use crate::error::GateError;
use crate::finding::{CheckResult, Finding, Severity, Status};
use crate::walk::{glob_set, relative};

/// The check's name.
pub const CHECK: &str = "schema_validation";

/// Files larger than this are skipped and counted (`skipped_huge`).
const MAX_FILE_BYTES: u64 = 16 << 20;

/// This repository's own files and their schemas, used without mappings when the schema exists.
const CONVENTIONS: &[(&str, &str)] = &[
    ("root.modules.yaml", "schemas/root-modules.schema.json"),
    ("root.gates.yaml", "schemas/root-gates.schema.json"),
];

/// Messages longer than this are cut (an instance printed whole can be huge).
const MAX_MESSAGE: usize = 300;

/// Validate the files under `root` that `cfg` (or the zero-config defaults) maps to schemas.
pub fn run(root: &Path, cfg: &SchemaConfig) -> CheckResult {
    let started = Instant::now();
    let mut r = match check(root, cfg) {
        Ok(r) => r,
        Err(e) => CheckResult::with_status(CHECK, Status::Error, e.to_string()),
    };
    r.duration_ms = started.elapsed().as_millis() as u64;
    r
}

/// A schema a file is to be validated against, and who said so.
struct SchemaUse {
    /// The path as written.
    path: String,
    /// The folder it is relative to.
    base: PathBuf,
    /// The file and place naming the schema (for a schema that cannot be found).
    origin: Origin,
}

/// Who named a schema.
enum Origin {
    /// `schema_validation.mappings[i]` in root.gates.yaml (located only when needed).
    Mapping(usize),
    /// A place in a file (a modeline, a `"$schema"` key; line 0 for a convention).
    At(String, Location),
}

struct Compiled {
    validator: jsonschema::Validator,
    rel: String,
}

struct Run<'a> {
    root: &'a Path,
    canon_root: PathBuf,
    findings: Vec<Finding>,
    files_read: BTreeSet<String>,
    /// Canonical schema path → compiled schema, or `None` when it failed (reported once).
    schemas: HashMap<PathBuf, Option<Rc<Compiled>>>,
    gates_index: Option<PathIndex>,
    files: u64,
    documents: u64,
    huge: u64,
}

fn check(root: &Path, cfg: &SchemaConfig) -> Result<CheckResult, GateError> {
    let ignored = glob_set("schema_validation.ignore", &cfg.ignore)?;
    let mut mappings: Vec<GlobSet> = Vec::new();
    for (i, m) in cfg.mappings.iter().enumerate() {
        let what = format!("schema_validation.mappings[{i}]");
        let globs: Vec<String> = m.glob.iter().chain(&m.globs).cloned().collect();
        if globs.is_empty() {
            return Err(GateError::Pattern {
                what,
                pattern: String::new(),
                message: "a mapping needs `glob` or `globs`".into(),
            });
        }
        mappings.push(glob_set(&what, &globs)?);
    }
    let canon_root = root
        .canonicalize()
        .map_err(|_| GateError::NotADirectory(root.display().to_string()))?;
    let mut run = Run {
        root,
        canon_root,
        findings: Vec::new(),
        files_read: BTreeSet::new(),
        schemas: HashMap::new(),
        gates_index: None,
        files: 0,
        documents: 0,
        huge: 0,
    };
    let walker = WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    for entry in walker.flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let is_data = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["json", "yaml", "yml"].contains(&e.to_ascii_lowercase().as_str()));
        let rel = relative(root, path);
        if !is_data || ignored.is_match(&rel) {
            continue;
        }
        if cfg.mappings.is_empty() {
            run.zero_config_file(path, &rel);
        } else {
            let uses: Vec<usize> = (0..mappings.len())
                .filter(|&i| mappings[i].is_match(&rel))
                .collect();
            if uses.is_empty() {
                continue;
            }
            let uses = uses
                .into_iter()
                .map(|i| SchemaUse {
                    path: cfg.mappings[i].schema.clone(),
                    base: root.to_path_buf(),
                    origin: Origin::Mapping(i),
                })
                .collect();
            if let Some(text) = run.read(path, &rel) {
                run.validate_file(path, &rel, &text, uses, None);
            }
        }
    }
    let mut r = if run.files == 0 && run.findings.is_empty() {
        CheckResult::with_status(
            CHECK,
            Status::Skipped,
            "no YAML or JSON file is mapped to a schema",
        )
    } else {
        CheckResult::from_findings(CHECK, std::mem::take(&mut run.findings), 0)
    };
    r.stats.insert("files_validated".into(), run.files);
    r.stats.insert("documents_validated".into(), run.documents);
    r.stats.insert(
        "schemas_compiled".into(),
        run.schemas.values().filter(|s| s.is_some()).count() as u64,
    );
    if run.huge > 0 {
        r.stats.insert("skipped_huge".into(), run.huge);
    }
    r.files_read = run.files_read.into_iter().collect();
    Ok(r)
}

impl Run<'_> {
    /// Read a file to validate; too large or not text is counted or reported.
    fn read(&mut self, path: &Path, rel: &str) -> Option<String> {
        if std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_FILE_BYTES) {
            self.huge += 1;
            return None;
        }
        let bytes = std::fs::read(path).ok()?;
        self.files_read.insert(rel.to_string());
        match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(_) => {
                self.push(
                    rel,
                    Location::default(),
                    "schema.syntax",
                    "not UTF-8 text".into(),
                    None,
                );
                None
            }
        }
    }

    /// Without mappings: a file is validated if it names a local schema or is a convention.
    fn zero_config_file(&mut self, path: &Path, rel: &str) {
        let format = Format::of(path);
        let convention = CONVENTIONS
            .iter()
            .find(|(file, schema)| *file == rel && self.root.join(schema).is_file());
        // Cheap filters first: most JSON and YAML files name no schema.
        let may_name = |text: &str| match format {
            Format::Json => text.contains("\"$schema\""),
            Format::Yaml => text.contains("yaml-language-server"),
        };
        let Some(text) = self.read(path, rel) else {
            return;
        };
        if convention.is_none() && !may_name(&text) {
            return;
        }
        let dir = path.parent().unwrap_or(self.root).to_path_buf();
        let mut uses = Vec::new();
        if format == Format::Yaml
            && let Some((schema, at)) = modeline(&text)
        {
            uses.push(SchemaUse {
                path: schema,
                base: dir.clone(),
                origin: Origin::At(rel.to_string(), at),
            });
        }
        if let Some((file, schema)) = convention {
            uses.push(SchemaUse {
                path: schema.to_string(),
                base: self.root.to_path_buf(),
                origin: Origin::At(file.to_string(), Location::default()),
            });
        }
        // JSON names its schema inside the document, so it is parsed before it is known.
        let json_names_schema = format == Format::Json;
        self.validate_file(path, rel, &text, uses, json_names_schema.then_some(dir));
    }

    /// Parse `text` and validate each document against each schema in `uses` (plus, for
    /// `json_schema_base`, a local `"$schema"` in the document, relative to that folder).
    fn validate_file(
        &mut self,
        path: &Path,
        rel: &str,
        text: &str,
        mut uses: Vec<SchemaUse>,
        json_schema_base: Option<PathBuf>,
    ) {
        let docs = match parse_documents(Format::of(path), text) {
            Ok(d) => d,
            Err(e) => {
                // A JSON file only sniffed for `"$schema"` may be JSON with comments: not ours.
                if !uses.is_empty() {
                    let msg = format!("does not parse: {}", e.message);
                    self.push(rel, e.at, "schema.syntax", msg, None);
                }
                return;
            }
        };
        if let (Some(base), Some(doc)) = (json_schema_base, docs.first())
            && let Some(s) = doc.value.get("$schema").and_then(Value::as_str)
            && !s.contains("://")
        {
            uses.push(SchemaUse {
                path: s.to_string(),
                base,
                origin: Origin::At(rel.to_string(), locate(&doc.index, "/$schema", false)),
            });
        }
        if uses.is_empty() {
            return;
        }
        // One schema named twice (a modeline and a convention) is checked once.
        let mut seen = BTreeSet::new();
        let mut validated = false;
        for u in uses {
            let Some(schema) = self.schema(&u) else {
                continue;
            };
            if !seen.insert(schema.rel.clone()) {
                continue;
            }
            validated = true;
            for (n, doc) in docs.iter().enumerate() {
                let doc_no = (docs.len() > 1).then_some(n + 1);
                self.validate_doc(rel, doc, doc_no, &schema);
            }
        }
        if validated {
            self.files += 1;
            self.documents += docs.len() as u64;
        }
    }

    fn validate_doc(&mut self, rel: &str, doc: &Document, doc_no: Option<usize>, s: &Compiled) {
        let mut out = Vec::new();
        for e in s.validator.iter_errors(&doc.value) {
            let pointer = e.instance_path().as_str().to_string();
            let place = |p: &str| match (doc_no, p.is_empty()) {
                (Some(n), true) => format!("document {n}"),
                (Some(n), false) => format!("document {n}, `{p}`"),
                (None, true) => "the document".to_string(),
                (None, false) => format!("`{p}`"),
            };
            let rule = match e.kind() {
                ValidationErrorKind::Referencing(_) => "schema.ref-unresolvable".to_string(),
                k => format!("schema.{}", k.keyword()),
            };
            match e.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected }
                | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                    for prop in unexpected {
                        let p = format!("{pointer}/{}", prop.replace('~', "~0").replace('/', "~1"));
                        let msg = format!(
                            "{}: property `{prop}` is not allowed (schema {})",
                            place(&pointer),
                            s.rel
                        );
                        let fix = Some(format!("remove `{prop}` or fix its spelling"));
                        out.push((locate(&doc.index, &p, true), rule.clone(), msg, fix));
                    }
                }
                kind => {
                    let fix = match kind {
                        ValidationErrorKind::Required { property } => {
                            Some(format!("add `{}`", property.as_str().unwrap_or("?")))
                        }
                        ValidationErrorKind::Enum { options } => {
                            options.as_array().filter(|o| o.len() <= 12).map(|o| {
                                let list: Vec<String> = o.iter().map(Value::to_string).collect();
                                format!("use one of {}", list.join(", "))
                            })
                        }
                        _ => None,
                    };
                    let msg = format!(
                        "{}: {} (schema {})",
                        place(&pointer),
                        cut(&e.to_string()),
                        s.rel
                    );
                    out.push((locate(&doc.index, &pointer, false), rule, msg, fix));
                }
            }
        }
        for (at, rule, msg, fix) in out {
            self.push(rel, at, &rule, msg, fix);
        }
    }

    /// The compiled schema for `u`, compiling (and reporting its problems) on first use.
    fn schema(&mut self, u: &SchemaUse) -> Option<Rc<Compiled>> {
        let joined = u.base.join(&u.path);
        let problem = match joined.canonicalize() {
            Ok(c) if c.starts_with(&self.canon_root) => Ok(c),
            Ok(_) => Err(format!(
                "schema `{}` is outside the repository; not read",
                u.path
            )),
            Err(e) => Err(format!("schema `{}` cannot be read: {e}", u.path)),
        };
        let canonical = match problem {
            Ok(c) => c,
            Err(msg) => {
                let (file, at) = match &u.origin {
                    Origin::Mapping(i) => self.mapping_origin(*i),
                    Origin::At(file, at) => (file.clone(), *at),
                };
                self.push(&file, at, "schema.ref-unresolvable", msg, None);
                return None;
            }
        };
        if let Some(done) = self.schemas.get(&canonical) {
            return done.clone();
        }
        let compiled = self.compile(&canonical);
        self.schemas.insert(canonical, compiled.clone());
        compiled
    }

    fn compile(&mut self, canonical: &Path) -> Option<Rc<Compiled>> {
        let rel = relative(&self.canon_root, canonical);
        let invalid = "schema.invalid-schema";
        let text = match std::fs::metadata(canonical) {
            Ok(m) if m.len() > MAX_FILE_BYTES => Err(format!("larger than {MAX_FILE_BYTES} bytes")),
            _ => std::fs::read_to_string(canonical).map_err(|e| e.to_string()),
        };
        self.files_read.insert(rel.clone());
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                self.push(
                    &rel,
                    Location::default(),
                    invalid,
                    format!("cannot read the schema: {e}"),
                    None,
                );
                return None;
            }
        };
        let doc = match parse_documents(Format::of(canonical), &text) {
            Ok(mut d) if !d.is_empty() => d.swap_remove(0),
            Ok(_) => {
                self.push(
                    &rel,
                    Location::default(),
                    invalid,
                    "the schema file is empty".into(),
                    None,
                );
                return None;
            }
            Err(e) => {
                let msg = format!("the schema does not parse: {}", e.message);
                self.push(&rel, e.at, invalid, msg, None);
                return None;
            }
        };
        let draft = match draft_of(&doc.value) {
            Ok(d) => d,
            Err(msg) => {
                let at = locate(&doc.index, "/$schema", false);
                self.push(
                    &rel,
                    at,
                    invalid,
                    msg,
                    Some("use draft-07 or 2020-12".into()),
                );
                return None;
            }
        };
        let base = url::Url::from_file_path(canonical).ok()?;
        let dir = canonical.parent().unwrap_or(&self.canon_root).to_path_buf();
        let alias = doc
            .value
            .get("$id")
            .and_then(Value::as_str)
            .filter(|id| id.starts_with("http://") || id.starts_with("https://"))
            .and_then(|id| id.rfind('/').map(|i| (id[..=i].to_string(), dir)));
        let log = Arc::new(Mutex::new(Log::default()));
        let built = jsonschema::options()
            .with_draft(draft)
            .with_base_uri(base.as_str())
            .with_retriever(LocalRetriever::new(&self.canon_root, alias, log.clone()))
            .build(&doc.value);
        let log = std::mem::take(&mut *log.lock().unwrap_or_else(|p| p.into_inner()));
        for (path, _) in &log.read {
            self.files_read.insert(relative(&self.canon_root, path));
        }
        match built {
            Ok(validator) => Some(Rc::new(Compiled { validator, rel })),
            Err(e) => {
                if !log.refused.is_empty() {
                    self.report_refusals(canonical, &rel, &doc, &log);
                } else if matches!(e.kind(), ValidationErrorKind::Referencing(_)) {
                    let msg = format!("a reference does not resolve: {}", cut(&e.to_string()));
                    let at = locate(&doc.index, e.instance_path().as_str(), false);
                    self.push(&rel, at, "schema.ref-unresolvable", msg, None);
                } else {
                    let msg = format!("not a valid {draft:?} schema: {}", cut(&e.to_string()));
                    let at = locate(&doc.index, e.instance_path().as_str(), false);
                    self.push(&rel, at, invalid, msg, None);
                }
                None
            }
        }
    }

    /// One finding per refused reference, at the `$ref` asking for it (in whichever schema
    /// file it is written), else at the top of the root schema.
    fn report_refusals(&mut self, canonical: &Path, rel: &str, root_doc: &Document, log: &Log) {
        let mut files: Vec<(PathBuf, String, Option<Document>)> =
            vec![(canonical.to_path_buf(), rel.to_string(), None)];
        for (path, text) in &log.read {
            let doc = parse_documents(Format::of(path), text)
                .ok()
                .and_then(|mut d| (!d.is_empty()).then(|| d.swap_remove(0)));
            files.push((path.clone(), relative(&self.canon_root, path), doc));
        }
        let mut reported = BTreeSet::new();
        for (uri, why) in &log.refused {
            if !reported.insert(uri.clone()) {
                continue;
            }
            let mut at: Option<(String, Location, String)> = None;
            'files: for (path, frel, doc) in &files {
                let Some(doc) = doc.as_ref().or((frel == rel).then_some(root_doc)) else {
                    continue;
                };
                let Ok(base) = url::Url::from_file_path(path) else {
                    continue;
                };
                for (ptr, reference) in refs(&doc.value) {
                    if ref_target(&base, &reference).as_deref() == Some(uri.as_str()) {
                        at = Some((frel.clone(), locate(&doc.index, &ptr, false), reference));
                        break 'files;
                    }
                }
            }
            let (file, loc, shown) =
                at.unwrap_or((rel.to_string(), Location::default(), uri.clone()));
            let msg = format!("`$ref: {shown}` is not resolved: {why}");
            self.push(&file, loc, "schema.ref-unresolvable", msg, None);
        }
    }

    /// Where mapping `i`'s `schema` is written in root.gates.yaml.
    fn mapping_origin(&mut self, i: usize) -> (String, Location) {
        if self.gates_index.is_none() {
            let text = std::fs::read_to_string(self.root.join(CONFIG_FILE)).unwrap_or_default();
            self.gates_index = Some(PathIndex::build(CONFIG_FILE, &text).unwrap_or_default());
            self.files_read.insert(CONFIG_FILE.to_string());
        }
        let at = self
            .gates_index
            .as_ref()
            .map(|x| locate(x, &format!("/schema_validation/mappings/{i}/schema"), false))
            .unwrap_or_default();
        (CONFIG_FILE.to_string(), at)
    }

    fn push(&mut self, file: &str, at: Location, rule: &str, message: String, fix: Option<String>) {
        self.findings.push(Finding {
            check: CHECK.into(),
            rule_id: rule.to_string(),
            severity: Severity::Error,
            file: file.to_string(),
            line: at.line,
            column: at.column,
            message,
            suggested_fix: fix,
            fingerprint: None,
        });
    }
}

/// The draft named by `$schema` (2020-12 when absent), or why it is not supported.
fn draft_of(schema: &Value) -> Result<Draft, String> {
    let Some(uri) = schema.get("$schema") else {
        return Ok(Draft::Draft202012);
    };
    let Some(uri) = uri.as_str() else {
        return Err("`$schema` must be a string".into());
    };
    let key = uri
        .trim_end_matches('#')
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    Ok(match key {
        "json-schema.org/draft-04/schema" => Draft::Draft4,
        "json-schema.org/draft-06/schema" => Draft::Draft6,
        "json-schema.org/draft-07/schema" => Draft::Draft7,
        "json-schema.org/draft/2019-09/schema" => Draft::Draft201909,
        "json-schema.org/draft/2020-12/schema" => Draft::Draft202012,
        _ => {
            return Err(format!(
                "unknown `$schema` {uri:?}; supported: draft-04, draft-06, draft-07, 2019-09, 2020-12"
            ));
        }
    })
}

/// The `$schema=` of a `# yaml-language-server:` modeline, if it names a local file.
fn modeline(text: &str) -> Option<(String, Location)> {
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if !trimmed.starts_with('#') {
            continue;
        }
        let Some(m) = line.find("yaml-language-server:") else {
            continue;
        };
        let Some(s) = line[m..].find("$schema=") else {
            continue;
        };
        let start = m + s + "$schema=".len();
        let value = line[start..].split_whitespace().next().unwrap_or("");
        if value.is_empty() || value.contains("://") {
            return None;
        }
        let column = line[..start].chars().count() + 1;
        return Some((
            value.to_string(),
            Location {
                line: i + 1,
                column,
            },
        ));
    }
    None
}

/// `s` cut to [`MAX_MESSAGE`] characters.
fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests;
