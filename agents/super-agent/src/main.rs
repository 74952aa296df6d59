//! `super-agent`: command-line entry point.

use clap::Parser;

/// MachineNativeOps SuperAgent.
#[derive(Parser, Debug)]
#[command(name = "super-agent", version, about)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
