//! safepref-loadgen: load and benchmark tools for safepref.
//!
//! `safepref-loadgen pku-file --records N --out PATH [--seed S]` writes N
//! synthetic PKU-SafeRLHF records as JSON Lines (see [`pku`]).
//! `safepref-loadgen stats-bench` times the agreement report's figures.
//! `safepref-loadgen load --target URL --project NAME ...` runs simulated
//! annotators against servers (see [`safepref_loadgen::load`]).
//! `safepref-loadgen fake-llm` serves canned chat completions for
//! `safepref suggest` benchmarks (see [`safepref_loadgen::fake_llm`]).

mod pku;
mod stats;

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use safepref_loadgen::fake_llm::{self, FakeLlm};
use safepref_loadgen::load;

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
    /// Simulated annotators over HTTP; prints annotations/s, latency per
    /// endpoint and errors, then checks the queue invariants in the database.
    Load(LoadArgs),
    /// An OpenAI-compatible chat-completions server that answers every
    /// request with a valid suggestion after a fixed latency; serves until
    /// Ctrl-C, after printing `listening on BASE_URL`.
    FakeLlm {
        /// 0: any free port.
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[arg(long, default_value_t = 20)]
        latency_ms: u64,
        /// How many responses the suggested items have.
        #[arg(long, default_value_t = 2)]
        responses: usize,
    },
}

#[derive(Args)]
struct LoadArgs {
    /// A server's base URL; repeat (or separate with commas) for several
    /// servers: annotators are spread over them round-robin.
    #[arg(long = "target", required = true, value_delimiter = ',')]
    targets: Vec<String>,
    /// The project to annotate (name or id).
    #[arg(long)]
    project: String,
    #[arg(long, default_value_t = 64)]
    annotators: usize,
    /// Annotator i signs in as PREFIX{i} (accounts made beforehand).
    #[arg(long, default_value = "loadgen-")]
    user_prefix: String,
    /// The password of every annotator account.
    #[arg(long, env = "LOADGEN_PASSWORD", hide_env_values = true)]
    password: String,
    /// Seconds of load.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Mean milliseconds between lease and answer.
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// Share of leases skipped.
    #[arg(long, default_value_t = 0.02)]
    skip_rate: f64,
    /// Share of submits sent twice (same submission id).
    #[arg(long, default_value_t = 0.02)]
    double_submit_rate: f64,
    /// Share of leases abandoned (sign out, sign in again).
    #[arg(long, default_value_t = 0.001)]
    abandon_rate: f64,
    /// Stop as soon as the project is complete.
    #[arg(long)]
    until_complete: bool,
    /// Lease with a call of its own after every submit, instead of asking
    /// the submit for the next lease (`?next=1`).
    #[arg(long)]
    lease_separately: bool,
    /// Check the queue invariants in this database afterwards.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl LoadArgs {
    fn options(self) -> Result<load::Options, String> {
        if !(self.duration.is_finite() && self.duration > 0.0) {
            return Err(format!(
                "--duration is {}: give a positive number of seconds",
                self.duration
            ));
        }
        Ok(load::Options {
            targets: self.targets,
            project: self.project,
            annotators: self.annotators,
            user_prefix: self.user_prefix,
            password: self.password,
            duration: Duration::from_secs_f64(self.duration),
            think: Duration::from_millis(self.think_ms),
            skip_rate: self.skip_rate,
            double_submit_rate: self.double_submit_rate,
            abandon_rate: self.abandon_rate,
            until_complete: self.until_complete,
            lease_separately: self.lease_separately,
            database_url: self.database_url,
            seed: self.seed,
        })
    }
}

/// Runs the load; fails when the run could not start, any call failed, or
/// an invariant is broken.
fn run_load(args: LoadArgs) -> ExitCode {
    let outcome = args
        .options()
        .map_err(anyhow::Error::msg)
        .and_then(|options| {
            // One thread: the load generator shares the machine with the
            // server and the database it measures, so it should take as
            // little of it as it can (64 annotators are I/O bound).
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(load::run(&options))
        });
    match outcome {
        Ok(report) => {
            println!("{}", report.render());
            let broken = report.invariants.as_ref().is_some_and(|i| !i.hold());
            if broken || report.tally.error_count() > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("safepref-loadgen load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Serves canned completions until Ctrl-C.
fn run_fake_llm(port: u16, latency_ms: u64, responses: usize) -> ExitCode {
    let script = fake_llm::benchmark_script(Duration::from_millis(latency_ms), responses);
    // One thread, like `load`: it shares the machine with what it measures.
    let served = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|runtime| {
            runtime.block_on(async {
                let server = FakeLlm::start_on(port, false, script).await?;
                println!("listening on {}", server.base_url());
                io::stdout().flush()?;
                tokio::signal::ctrl_c().await
            })
        });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("safepref-loadgen fake-llm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Load(args) => run_load(args),
        Command::FakeLlm {
            port,
            latency_ms,
            responses,
        } => run_fake_llm(port, latency_ms, responses),
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
