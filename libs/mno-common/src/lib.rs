//! Shared foundations of the MachineNativeOps services.
//!
//! Both services load YAML configuration the same way (defaults < file <
//! `MNO_*` environment < flags; every error names file, line, column and key;
//! unknown keys warn instead of failing), log the same way (stderr plus a
//! size-rotated file when one is writable), pick a data directory the same
//! way (the system location when writable, else the user's) and listen and
//! shut down the same way (`server`). Those rules live here so that the
//! monitor and the SuperAgent cannot drift apart.

pub mod logging;
pub mod paths;
pub mod server;
pub mod web;
pub mod yaml;

pub use logging::{DefaultLogFile, LogFormat, LogSettings, LoggingConfig, NoLogFile, parse_size};
pub use paths::{DataPath, resolve_data_file};
pub use yaml::{
    ConfigError, ConfigWarning, LoadOptions, Loaded, Location, NodeLocation, PathIndex, load_file,
    load_file_with, load_str, load_str_with,
};
