use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_logging();
    let cli = safepref_server::cli::Cli::parse();
    match safepref_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", safepref_server::error::chain_once(&err));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Log lines on standard error: for people (colour only on a terminal), or
/// with `SAFEPREF_LOG_FORMAT=json` one JSON object per line for collectors.
fn init_logging() {
    let filter = EnvFilter::try_from_env("SAFEPREF_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var("SAFEPREF_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().init(),
        _ => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}
