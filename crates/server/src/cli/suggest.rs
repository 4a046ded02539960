//! `safepref suggest`: asks a model, through an OpenAI-compatible chat
//! endpoint, for a suggestion per item, with a progress bar and a summary.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use safepref_core::judge::Template;
use safepref_core::suggestions::{Policy, Routing};
use tokio::sync::watch;

use crate::db::Database;
use crate::error::AppError;
use crate::judge::run::{self, Origin, Plan, Snapshot, Summary};
use crate::judge::{ApiKey, ChatClient, Patience};

#[derive(Debug, clap::Args)]
pub struct SuggestArgs {
    /// The project's name.
    #[arg(long)]
    pub project: String,
    /// The API's base URL, e.g. http://127.0.0.1:8080/v1 (the key, if any, goes in
    /// SAFEPREF_LLM_API_KEY).
    #[arg(long)]
    pub endpoint: String,
    /// The model's name as the server knows it; the suggestions' source is this name
    /// and the template's version.
    #[arg(long)]
    pub model: String,
    /// Only this batch (its number in the project).
    #[arg(long)]
    pub batch: Option<i32>,
    /// At most this many items (with --dry-run: this many, default 3).
    #[arg(long)]
    pub limit: Option<i64>,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// A judge prompt template instead of the built-in one.
    #[arg(long)]
    pub template: Option<PathBuf>,
    /// Seconds to wait for one answer.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Tries after the first for 5xx, timeouts, 429 and dropped connections.
    #[arg(long, default_value_t = 4)]
    pub retries: u32,
    /// Print the first request and the parsed answers for a few items; store nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// After the run, route the project by this source: an item whose every compared
    /// field's score is at least this (0 to 1) and that the first person agrees with
    /// is complete at one annotation.
    #[arg(long, value_name = "SCORE")]
    pub route_at: Option<f64>,
}

pub async fn run(database: &Database, args: SuggestArgs) -> anyhow::Result<()> {
    let pool = &database.pool;
    let project = crate::projects::find_by_name(pool, &args.project)
        .await
        .map_err(AppError::from)?;
    let template = match &args.template {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the template {}", path.display()))?;
            Template::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Template::default_template(),
    };
    if let Some(score) = args.route_at
        && !(0.0..=1.0).contains(&score)
    {
        anyhow::bail!("--route-at {score} is out of range: give a score from 0 to 1");
    }
    let key = ApiKey::from_env();
    let patience = Patience {
        timeout: Duration::from_secs(args.timeout.max(1)),
        retries: args.retries,
        ..Patience::default()
    };
    let client = ChatClient::new(&args.endpoint, &args.model, key.clone(), patience)
        .map_err(|e| anyhow::anyhow!("--endpoint: {e}"))?;
    let plan = Plan {
        project,
        batch: args.batch,
        limit: if args.dry_run {
            Some(args.limit.unwrap_or(3))
        } else {
            args.limit
        },
        concurrency: args.concurrency,
        template,
        model: args.model.clone(),
        endpoint: args.endpoint.clone(),
        origin: Origin::Cli,
        actor: None,
    };
    if args.dry_run {
        return dry_run(database, &client, &plan).await;
    }
    let run = run::begin(pool, &plan).await.map_err(AppError::from)?;
    eprintln!(
        "Asking {} at {} about project {:?} ({}; {}).",
        plan.model,
        args.endpoint,
        plan.project.name,
        plan.source().map_err(AppError::from)?,
        if key.is_some() {
            "with the key in SAFEPREF_LLM_API_KEY"
        } else {
            "no SAFEPREF_LLM_API_KEY set: without a key"
        }
    );
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\nStopping: the calls in flight finish, no new one starts (Ctrl-C again quits now)."
            );
            let _ = stop_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let bar = Bar::new();
    let summary = run::execute(pool, &client, &plan, run, &|s| bar.show(s), stop)
        .await
        .map_err(AppError::from)?;
    bar.finish();
    print_summary(&plan, &summary);
    if let (Some(threshold), false) = (args.route_at, summary.interrupted) {
        route(database, &plan, &summary.source, threshold).await?;
    }
    Ok(())
}

async fn dry_run(database: &Database, client: &ChatClient, plan: &Plan) -> anyhow::Result<()> {
    let limit = plan.limit.unwrap_or(3);
    let dry = crate::judge::dry_run::dry_run(&database.pool, client, plan, limit)
        .await
        .map_err(AppError::from)?;
    let Some(request) = &dry.first_request else {
        println!(
            "No item of project {:?} lacks a suggestion from {}: nothing to ask.",
            plan.project.name, dry.source
        );
        return Ok(());
    };
    println!("Dry run: nothing is stored. Source: {}", dry.source);
    println!(
        "The first request (POST {}):",
        crate::judge::client::chat_url(&plan.endpoint)
            .map(|u| u.to_string())
            .unwrap_or_default()
    );
    println!("{}", serde_json::to_string_pretty(request)?);
    for (item, answer) in &dry.answers {
        match answer {
            Ok((suggestion, from)) => println!(
                "item {item}: accepted (scores from {from})\n{}",
                serde_json::to_string_pretty(suggestion)?
            ),
            Err(why) => println!("item {item}: no suggestion: {why}"),
        }
    }
    Ok(())
}

/// Sets the project's routing rule to the source and threshold.
async fn route(
    database: &Database,
    plan: &Plan,
    source: &str,
    threshold: f64,
) -> anyhow::Result<()> {
    let mut settings = plan.project.settings();
    settings.suggestions = Policy {
        routing: Some(Routing {
            source: source.to_string(),
            threshold,
        }),
        ..settings.suggestions
    };
    crate::projects::update(&database.pool, None, &plan.project, settings)
        .await
        .map_err(AppError::from)?;
    println!(
        "Project {:?} now routes by {source}: an item whose every compared score is at least \
         {threshold} and that its first annotator agrees with is complete at one annotation.",
        plan.project.name
    );
    Ok(())
}

fn print_summary(plan: &Plan, s: &Summary) {
    let rate = s.done as f64 / s.wall.as_secs_f64().max(0.001);
    println!(
        "Model suggestions for project {:?} from {}",
        plan.project.name, s.source
    );
    println!(
        "  items asked about     {:>8} of {} ({} already had this source's suggestion)",
        s.done, s.items, s.already
    );
    println!("  suggestions stored    {:>8}", s.stored);
    let failed: u64 = s.failures.values().sum();
    let kinds: Vec<String> = s.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "  left without one      {failed:>8}{}",
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        }
    );
    let from: Vec<String> = s
        .scores_from
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !from.is_empty() {
        println!("  scores from           {:>8}", from.join(", "));
    }
    println!(
        "  answers sent back     {:>8} (invalid answers the model was asked to correct)",
        s.answers_retried
    );
    println!(
        "  calls tried again     {:>8} (5xx, timeouts, 429, dropped connections)",
        s.calls_retried
    );
    match (s.tokens_in, s.tokens_out) {
        (Some(i), Some(o)) => println!("  tokens                {i:>8} in, {o} out"),
        _ => println!("  tokens                 unknown (the server reported no usage)"),
    }
    println!(
        "  wall time             {:>7.1}s ({rate:.1} items/s)",
        s.wall.as_secs_f64()
    );
    if s.interrupted {
        println!("Stopped before the end: run the same command again to finish the rest.");
    }
    if failed > 0 {
        println!(
            "The failed answers, with their raw text, are on the project's Model suggestions page (run {}).",
            s.run
        );
    }
}

/// Progress on standard error: a bar redrawn in place on a terminal, a
/// plain line every ten seconds otherwise.
struct Bar {
    terminal: bool,
    last: Mutex<Option<Instant>>,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            terminal: std::io::stderr().is_terminal(),
            last: Mutex::new(None),
        }
    }

    fn show(&self, s: &Snapshot) {
        let mut last = self.last.lock().expect("bar");
        let every = if self.terminal {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(10)
        };
        let finished = s.done == s.total;
        if last.is_some_and(|t| t.elapsed() < every) && !finished {
            return;
        }
        *last = Some(Instant::now());
        let line = progress_line(s);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}

/// `[#####-----] 120/500  stored 118  failed 2  3.2 items/s  ETA 1m 59s`
fn progress_line(s: &Snapshot) -> String {
    const WIDTH: u64 = 24;
    let filled = (s.done * WIDTH).checked_div(s.total).unwrap_or(WIDTH) as usize;
    let rate = s.done as f64 / s.elapsed.as_secs_f64().max(0.001);
    let eta = if s.done == 0 || rate <= 0.0 {
        "ETA --".to_string()
    } else {
        let left = (s.total - s.done) as f64 / rate;
        format!("ETA {}m {:02}s", (left / 60.0) as u64, (left % 60.0) as u64)
    };
    format!(
        "[{}{}] {}/{}  stored {}  failed {}  {rate:.1} items/s  {eta}",
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled),
        s.done,
        s.total,
        s.stored,
        s.failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_has_counts_rate_and_eta() {
        let line = progress_line(&Snapshot {
            total: 100,
            done: 25,
            stored: 24,
            failed: 1,
            elapsed: Duration::from_secs(10),
        });
        assert!(
            line.starts_with("[######------------------] 25/100"),
            "{line}"
        );
        assert!(
            line.contains("stored 24  failed 1  2.5 items/s  ETA 0m 30s"),
            "{line}"
        );
    }

    #[test]
    fn an_empty_run_shows_a_full_bar() {
        let line = progress_line(&Snapshot {
            total: 0,
            done: 0,
            stored: 0,
            failed: 0,
            elapsed: Duration::ZERO,
        });
        assert!(line.starts_with(&format!("[{}]", "#".repeat(24))), "{line}");
    }
}
