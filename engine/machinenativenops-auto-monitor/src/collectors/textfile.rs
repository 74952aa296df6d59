//! `textfile`: metrics written by other programs into `*.prom` files in a directory
//! (node_exporter's textfile collector convention).
//!
//! Every tick reads each `*.prom` file of `collectors.textfile.directory` (in name order),
//! exports its samples, `node_textfile_mtime_seconds{file}` for each file and
//! `node_textfile_scrape_error` (1 when any file could not be read or parsed). A broken file
//! is skipped on its own and named in the log with its line, and in
//! `mno_textfile_error_line{file}`; the other files still load. Write files atomically
//! (to a temporary name, then rename) so the agent never reads half a file.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::promtext::{Merged, parse_text};
use super::{CollectError, Collector, Context, Toggle};
use crate::metrics::Family;

/// Settings of the `textfile` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TextfileConfig {
    /// Whether to read the directory (it runs only when `directory` is set).
    pub enabled: bool,
    /// Directory of `*.prom` files in the Prometheus text format (node_exporter's
    /// `--collector.textfile.directory`); unset: the collector does not run.
    pub directory: Option<PathBuf>,
}

impl Default for TextfileConfig {
    fn default() -> Self {
        TextfileConfig {
            enabled: true,
            directory: None,
        }
    }
}

impl Toggle for TextfileConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// Most bytes read from one file.
const FILE_LIMIT: u64 = 16 * 1024 * 1024;

/// Reads the `*.prom` files of one directory.
#[derive(Debug)]
pub struct TextfileCollector {
    dir: PathBuf,
}

impl TextfileCollector {
    /// A collector for `dir`.
    pub fn new(dir: &Path) -> TextfileCollector {
        TextfileCollector {
            dir: dir.to_path_buf(),
        }
    }
}

/// What became of one file.
#[derive(Debug)]
pub struct FileOutcome {
    /// The file name (the `file` label).
    pub file: String,
    /// Modification time, Unix seconds.
    pub mtime: Option<f64>,
    /// Why it was skipped, and the line when a line is at fault.
    pub error: Option<(String, usize)>,
}

fn read_limited(p: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(p)?
        .take(FILE_LIMIT + 1)
        .read_to_string(&mut s)?;
    if s.len() as u64 > FILE_LIMIT {
        return Err(std::io::Error::other(format!(
            "larger than {FILE_LIMIT} bytes"
        )));
    }
    Ok(s)
}

/// Read every `*.prom` file of `dir` into `merged`; one outcome per file.
pub fn read_dir(dir: &Path, merged: &mut Merged) -> Result<Vec<FileOutcome>, CollectError> {
    let rd = std::fs::read_dir(dir).map_err(|source| CollectError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "prom"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for p in files {
        let file = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mtime = std::fs::metadata(&p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        let error = match read_limited(&p) {
            Err(e) => Some((format!("reading {}: {e}", p.display()), 0)),
            Ok(text) => match parse_text(&text) {
                Err(e) => Some((format!("{}:{}: {}", p.display(), e.line, e.message), e.line)),
                Ok(fams) => merged
                    .add(fams)
                    .err()
                    .map(|e| (format!("{}: {e}", p.display()), 0)),
            },
        };
        if let Some((msg, _)) = &error {
            tracing::warn!(collector = "textfile", "{msg}; file skipped");
        }
        out.push(FileOutcome { file, mtime, error });
    }
    Ok(out)
}

impl Collector for TextfileCollector {
    fn name(&self) -> &'static str {
        "textfile"
    }

    fn collect(&self, _ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let mut merged = Merged::default();
        let (outcomes, dir_error) = match read_dir(&self.dir, &mut merged) {
            Ok(o) => (o, false),
            Err(e) => {
                tracing::warn!(collector = "textfile", error = %e, "cannot read the directory");
                (Vec::new(), true)
            }
        };
        let mut mtime = Family::gauge(
            "node_textfile_mtime_seconds",
            "Unixtime mtime of textfiles successfully read.",
        );
        let mut lines = Family::gauge(
            "mno_textfile_error_line",
            "Line of the first error in a textfile that was skipped (0: not a line's fault).",
        );
        let mut failed = dir_error;
        for o in &outcomes {
            let l = [("file", o.file.as_str())];
            match &o.error {
                None => {
                    if let Some(t) = o.mtime {
                        mtime.push(&l, t);
                    }
                }
                Some((_, line)) => {
                    failed = true;
                    lines.push(&l, *line as f64);
                }
            }
        }
        out.extend(merged.into_families());
        super::push_nonempty(out, [mtime, lines]);
        out.push(
            Family::gauge(
                "node_textfile_scrape_error",
                "1 if there was an error opening or reading a file, 0 otherwise",
            )
            .with(&[], if failed { 1.0 } else { 0.0 }),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_file_is_skipped_and_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.prom"),
            "# TYPE app_up gauge\napp_up{x=\"1\"} 1\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b.prom"), "app_ok 1\napp_bad{ 2\n").unwrap();
        std::fs::write(
            dir.path().join("c.prom"),
            "# TYPE app_up gauge\napp_up{x=\"2\"} 0\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "not read\n").unwrap();
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        TextfileCollector::new(dir.path())
            .collect(&ctx, &mut out)
            .unwrap();
        let get = |n: &str| out.iter().find(|f| f.name == n);
        let up = get("app_up").unwrap();
        assert_eq!(up.samples.len(), 2);
        assert!(get("app_ok").is_none(), "b.prom is skipped whole");
        assert_eq!(
            get("mno_textfile_error_line")
                .unwrap()
                .value(&[("file", "b.prom")]),
            Some(2.0)
        );
        let mt = get("node_textfile_mtime_seconds").unwrap();
        assert_eq!(mt.samples.len(), 2);
        assert!(mt.value(&[("file", "a.prom")]).unwrap() > 1e9);
        assert_eq!(
            get("node_textfile_scrape_error").unwrap().value(&[]),
            Some(1.0)
        );
    }

    #[test]
    fn a_missing_directory_is_a_scrape_error_not_a_failure() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        TextfileCollector::new(Path::new("/nonexistent/mno-textfile"))
            .collect(&ctx, &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value(&[]), Some(1.0));
    }
}
