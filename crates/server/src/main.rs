//! `twisterlab-portal`: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use twisterlab_server::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    twisterlab_server::run(cli)
}
