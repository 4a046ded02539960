//! safepref-loadgen: load and benchmark tools for safepref.
//!
//! `safepref-loadgen pku-file --records N --out PATH [--seed S]` writes N
//! synthetic PKU-SafeRLHF records as JSON Lines (see [`pku`]).

mod pku;
mod stats;

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "safepref-loadgen",
    version,
    about = "Load and benchmark tools for safepref"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write synthetic PKU-SafeRLHF records (JSON Lines) for the import benchmark.
    PkuFile {
        /// How many records to write.
        #[arg(long)]
        records: u64,
        /// Where to write them; `-` for standard output.
        #[arg(long)]
        out: PathBuf,
        /// The seed: the same seed gives the same file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Time the agreement report's figures over synthetic annotations.
    StatsBench {
        #[arg(long, default_value_t = 100_000)]
        items: usize,
        #[arg(long, default_value_t = 3)]
        annotators: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::StatsBench {
            items,
            annotators,
            seed,
        } => {
            stats::run(items, annotators, seed);
            ExitCode::SUCCESS
        }
        Command::PkuFile { records, out, seed } => {
            let started = Instant::now();
            let written = if out.as_os_str() == "-" {
                pku::write_records(io::stdout().lock(), records, seed)
            } else {
                File::create(&out).and_then(|file| pku::write_records(file, records, seed))
            };
            match written {
                Ok(bytes) => {
                    let seconds = started.elapsed().as_secs_f64();
                    eprintln!(
                        "wrote {records} records, {bytes} bytes to {} in {seconds:.2} s ({:.0} MB/s)",
                        out.display(),
                        bytes as f64 / 1e6 / seconds.max(1e-9),
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("safepref-loadgen: cannot write {}: {e}", out.display());
                    ExitCode::FAILURE
                }
            }
        }
    }
}
