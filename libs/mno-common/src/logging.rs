//! Logging set-up shared by the services: stderr always, a size-rotated file when possible.

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use file_rotate::{ContentLimit, FileRotate, compression::Compression, suffix::AppendCount};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (colored on a TTY).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "plain" | "human" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format `{other}` (expected text or json)"
            )),
        }
    }
}

/// What the logger should do.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Level name: Python's (DEBUG, INFO, WARNING, ERROR, CRITICAL) or tracing's, any case,
    /// or a full `tracing` filter directive such as `info,hyper=warn`.
    pub level: String,
    /// Format on stderr and in the file.
    pub format: LogFormat,
    /// Log file; `None` logs to stderr only.
    pub file: Option<PathBuf>,
    /// Rotate the file when it grows past this many bytes.
    pub max_size: u64,
    /// How many rotated files to keep.
    pub backup_count: usize,
}

/// The log file a service writes when its configuration does not say: the default of
/// [`LoggingConfig`]'s `file`, also when a `logging:` block leaves `file` out.
pub trait DefaultLogFile {
    /// The path; empty for none (stderr only).
    const PATH: &'static str;
}

/// No log file by default: stderr only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoLogFile;

impl DefaultLogFile for NoLogFile {
    const PATH: &'static str = "";
}

// The same section in both services; `D` gives the default of `file` (also when a `logging:`
// block leaves `file` out), so each service keeps its own. (A comment, not a doc comment: doc
// comments end up in the services' JSON Schemas.)
/// `logging:` — level, format and an optional size-rotated log file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(rename = "LoggingConfig")]
pub struct LoggingConfig<D: DefaultLogFile = NoLogFile> {
    /// DEBUG, INFO, WARNING, ERROR or CRITICAL (or a tracing filter such as `info,hyper=warn`).
    pub level: String,
    /// `text` or `json`. The Auto-Monitor also accepts a Python logging format string from the
    /// original agent, meaning `text`.
    pub format: String,
    /// Log file besides stderr; empty logs to stderr only. When the file is not writable,
    /// logging continues on stderr only (with a warning).
    pub file: String,
    /// Rotate the file when it passes this size (`10MB`, `512KB`; 1024-based).
    pub max_size: String,
    /// Rotated files to keep.
    pub backup_count: usize,
    #[serde(skip)]
    default_file: PhantomData<D>,
}

impl<D: DefaultLogFile> Default for LoggingConfig<D> {
    fn default() -> Self {
        LoggingConfig {
            level: "INFO".into(),
            format: "text".into(),
            file: D::PATH.into(),
            max_size: "10MB".into(),
            backup_count: 5,
            default_file: PhantomData,
        }
    }
}

impl<D: DefaultLogFile> LoggingConfig<D> {
    /// The settings for [`init`]: an unknown format (a Python format string in an Auto-Monitor
    /// file) means text, an empty file none, a size that does not parse 10 MiB.
    pub fn settings(&self) -> LogSettings {
        LogSettings {
            level: self.level.clone(),
            format: self.format.parse().unwrap_or_default(),
            file: Some(self.file.trim())
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
            max_size: parse_size(&self.max_size).unwrap_or(10 << 20),
            backup_count: self.backup_count,
        }
    }
}

/// Map a level name to a `tracing` filter directive.
pub fn level_directive(level: &str) -> Result<String, String> {
    let l = level.trim();
    let mapped = match l.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" | "WARNING" => "warn",
        "ERROR" | "CRITICAL" | "FATAL" => "error",
        "OFF" => "off",
        _ if !l.contains('=') && !l.contains(',') => {
            return Err(format!(
                "unknown log level `{l}` (expected DEBUG, INFO, WARNING, ERROR or CRITICAL)"
            ));
        }
        _ => {
            // Accept full filter directives (`info,hyper=warn`) for those who know tracing.
            return EnvFilter::try_new(l)
                .map(|_| l.to_string())
                .map_err(|e| format!("unknown log level `{l}`: {e}"));
        }
    };
    // Keep the HTTP stack quiet below debug unless asked for explicitly.
    Ok(match mapped {
        "trace" | "debug" => format!("{mapped},hyper=info,h2=info,rustls=info"),
        _ => mapped.to_string(),
    })
}

/// Parse a size such as `10MB`, `512 KiB`, `1g` or `1048576` into bytes (K/M/G are 1024-based,
/// as Python's logging configurations in the original agent meant them).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size `{s}` (expected e.g. 10MB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "invalid size unit `{other}` in `{s}` (use KB, MB or GB)"
            ));
        }
    };
    let bytes = (n * mult as f64) as u64;
    if bytes == 0 {
        return Err(format!("size `{s}` must be greater than zero"));
    }
    Ok(bytes)
}

/// Check that `path` can be appended to, creating its directory if needed.
fn writable(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)?;
    Ok(())
}

/// Install the global subscriber. Returns warnings to log once logging works
/// (the file could not be opened, say): problems with the log file never stop the service.
pub fn init(settings: &LogSettings) -> Result<Vec<String>, String> {
    let directive = level_directive(&settings.level)?;
    let mut warnings = Vec::new();
    let file_writer = match &settings.file {
        Some(path) => match writable(path) {
            Ok(()) => Some(Mutex::new(FileRotate::new(
                path,
                AppendCount::new(settings.backup_count.max(1)),
                ContentLimit::BytesSurpassed(settings.max_size.max(1) as usize),
                Compression::None,
                None,
            ))),
            Err(e) => {
                warnings.push(format!(
                    "log file {} is not writable ({e}); logging to stderr only",
                    path.display()
                ));
                None
            }
        },
        None => None,
    };
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(EnvFilter::new(directive));
    let result = match settings.format {
        LogFormat::Json => {
            let stderr = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr);
            let file = file_writer.map(|w| {
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_ansi(false)
                    .with_writer(w)
            });
            registry.with(stderr).with(file).try_init()
        }
        LogFormat::Text => {
            let stderr = tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(std::io::stderr);
            let file = file_writer.map(|w| {
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(w)
            });
            registry.with(stderr).with(file).try_init()
        }
    };
    result.map_err(|e| format!("cannot install logger: {e}"))?;
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct VarLog;
    impl DefaultLogFile for VarLog {
        const PATH: &'static str = "/var/log/x.log";
    }

    #[test]
    fn logging_config_defaults_its_file_even_in_a_partial_block() {
        assert_eq!(LoggingConfig::<NoLogFile>::default().file, "");
        assert_eq!(LoggingConfig::<VarLog>::default().file, "/var/log/x.log");
        let partial: LoggingConfig<VarLog> = serde_saphyr::from_str("level: DEBUG\n").unwrap();
        assert_eq!(partial.level, "DEBUG");
        assert_eq!(partial.file, "/var/log/x.log");
        let off: LoggingConfig<VarLog> = serde_saphyr::from_str("file: ''\n").unwrap();
        assert_eq!(off.settings().file, None);
    }

    #[test]
    fn logging_config_settings() {
        let mut c = LoggingConfig::<VarLog> {
            format: "%(asctime)s %(message)s".into(),
            max_size: "512KB".into(),
            ..Default::default()
        };
        let s = c.settings();
        assert_eq!(s.format, LogFormat::Text);
        assert_eq!(s.file, Some(PathBuf::from("/var/log/x.log")));
        assert_eq!(s.max_size, 512 << 10);
        assert_eq!(s.backup_count, 5);
        c.format = "JSON".into();
        c.max_size = "lots".into();
        let s = c.settings();
        assert_eq!(s.format, LogFormat::Json);
        assert_eq!(s.max_size, 10 << 20);
    }

    #[test]
    fn python_level_names_map_to_tracing() {
        assert_eq!(level_directive("WARNING").unwrap(), "warn");
        assert_eq!(level_directive("critical").unwrap(), "error");
        assert!(level_directive("DEBUG").unwrap().starts_with("debug"));
        assert!(level_directive("info,hyper=warn").is_ok());
        assert!(level_directive("LOUD").is_err());
        assert!(level_directive("a=nonsense=").is_err());
    }

    #[test]
    fn sizes_parse_like_the_original_config() {
        assert_eq!(parse_size("10MB").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("512 KiB").unwrap(), 512 * 1024);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10XB").is_err());
        assert!(parse_size("0MB").is_err());
    }

    #[test]
    fn unwritable_path_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        // A path under a regular file can never be created.
        assert!(writable(&file.join("sub/monitor.log")).is_err());
        assert!(writable(&dir.path().join("logs/monitor.log")).is_ok());
    }
}
