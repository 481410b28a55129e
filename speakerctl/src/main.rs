//! `speakerctl`: see the crate docs and `docs/SPEAKERCTL.md`.

use std::process::ExitCode;

use clap::Parser;
use speakerctl::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match speakerctl::run(cli, &mut std::io::stdin(), &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
