//! `safepref-loadgen load`: simulated annotators over real HTTP through the
//! JSON API. Each signs in, then leases, thinks, and submits valid random
//! labels (the submit asking for the next lease, unless told to lease
//! separately) — now and then skipping, submitting twice (the same submission id
//! must answer with the same annotation) or abandoning the lease — until the
//! duration is up. Annotators are spread round-robin over the target URLs
//! (several `safepref serve` processes on one database). At the end: the
//! rate of completed annotations, latency per endpoint, errors by kind,
//! and, given a database URL, the queue invariants checked there.

mod annotator;
mod client;
mod invariants;
mod labels;
mod tally;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use safepref_core::labels::Questions;
use safepref_core::taxonomy::Taxonomy;
use tokio::time::Instant;

use annotator::{Annotator, Plan};
use client::Client;
pub use invariants::{Invariants, check as check_invariants};
use labels::LabelShape;
pub use tally::{Endpoint, Percentiles, Tally};

/// How to run the load.
#[derive(Debug, Clone)]
pub struct Options {
    /// Base URLs of the servers (`http://127.0.0.1:8080`); annotator i uses
    /// `targets[i % n]`.
    pub targets: Vec<String>,
    /// The project's name or id.
    pub project: String,
    pub annotators: usize,
    /// Annotator i signs in as `{user_prefix}{i}`.
    pub user_prefix: String,
    /// The password of every annotator account.
    pub password: String,
    pub duration: Duration,
    /// Mean time between lease and answer (uniform in 0.5×..1.5×).
    pub think: Duration,
    pub skip_rate: f64,
    pub double_submit_rate: f64,
    pub abandon_rate: f64,
    /// End as soon as the project is complete.
    pub until_complete: bool,
    /// Lease with a call of its own after each submit; otherwise a submit
    /// asks for the next lease with its answer (`?next=1`), as a client
    /// that goes straight on to the next item would.
    pub lease_separately: bool,
    /// Where to check the invariants afterwards.
    pub database_url: Option<String>,
    pub seed: u64,
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    pub annotators: usize,
    pub servers: usize,
    /// From the first lease to the end of the duration (or completion).
    pub elapsed: Duration,
    pub tally: Tally,
    pub invariants: Option<Invariants>,
}

impl Report {
    /// Annotations acknowledged per second of the run.
    pub fn rate(&self) -> f64 {
        self.tally.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The report as printed: totals, latency per endpoint, errors,
    /// invariants; the last line is `annotations/s: N` for scripts.
    pub fn render(&self) -> String {
        let t = &self.tally;
        let mut out = format!(
            "load: {} annotators on {} server(s) for {:.1} s: {} annotations ({:.1}/s), {} skips, \
             {} repeated submits, {} abandoned leases, {} empty leases, {} annotators lost\n",
            self.annotators,
            self.servers,
            self.elapsed.as_secs_f64(),
            t.completed,
            self.rate(),
            t.skips,
            t.double_submits,
            t.abandoned,
            t.empty_leases,
            t.lost_annotators,
        );
        for &endpoint in t.latencies.keys() {
            if let Some(p) = t.percentiles(endpoint) {
                out += &format!("  {:<40} {p}\n", endpoint.name());
            }
        }
        if t.errors.is_empty() {
            out += "errors: none\n";
        } else {
            out += &format!("errors: {}\n", t.error_count());
            for (kind, n) in &t.errors {
                out += &format!("  {n:>8}  {kind}\n");
            }
        }
        if let Some(invariants) = &self.invariants {
            out += &format!("{}\n", invariants.to_string().trim_end());
        }
        out + &format!("annotations/s: {:.1}", self.rate())
    }
}

/// Signs every annotator in, runs the load, checks the invariants.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    check_options(options)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.annotators)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut annotators = sign_in_all(options, &http).await?;
    let first = &mut annotators[0];
    let project = first
        .client
        .find_project(&mut first.tally, &options.project)
        .await
        .map_err(|f| anyhow!("listing projects: {}", f.describe()))?
        .ok_or_else(|| anyhow!("there is no project named {:?}", options.project))?;
    let settings = first
        .client
        .project(&mut first.tally, project)
        .await
        .map_err(|f| anyhow!("reading project {project}: {}", f.describe()))?;
    let shape = LabelShape {
        taxonomy: serde_json::from_value::<Taxonomy>(settings["taxonomy"].clone())
            .context("the project's taxonomy")?,
        questions: serde_json::from_value::<Questions>(settings["questions"].clone())
            .context("the project's questions")?,
    };
    // For scripts that measure the load alone (not the sign-ins before it,
    // nor the invariant check after it): these two lines mark its ends.
    println!("load: started, {} annotators signed in", annotators.len());
    let started = Instant::now();
    let plan = Arc::new(Plan {
        project,
        shape,
        deadline: started + options.duration,
        stop: AtomicBool::new(false),
        until_complete: options.until_complete,
        lease_separately: options.lease_separately,
        think: options.think,
        skip_rate: options.skip_rate,
        double_submit_rate: options.double_submit_rate,
        abandon_rate: options.abandon_rate,
    });
    let workers: Vec<_> = annotators
        .into_iter()
        .map(|a| tokio::spawn(a.work(plan.clone())))
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await?);
    }
    let elapsed = started.elapsed().min(options.duration);
    println!("load: finished");
    let invariants = match &options.database_url {
        Some(url) => Some(
            invariants::check(url, project, &tally.acknowledged)
                .await
                .context("checking the queue invariants in the database")?,
        ),
        None => None,
    };
    Ok(Report {
        annotators: options.annotators,
        servers: options.targets.len(),
        elapsed,
        tally,
        invariants,
    })
}

fn check_options(o: &Options) -> anyhow::Result<()> {
    if o.targets.is_empty() {
        bail!("--target: give at least one server URL");
    }
    if o.annotators == 0 {
        bail!("--annotators: at least 1");
    }
    for (name, rate) in [
        ("--skip-rate", o.skip_rate),
        ("--double-submit-rate", o.double_submit_rate),
        ("--abandon-rate", o.abandon_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            bail!("{name} is {rate}: a rate is between 0 and 1");
        }
    }
    if o.skip_rate + o.abandon_rate > 1.0 {
        bail!("--skip-rate plus --abandon-rate exceed 1");
    }
    Ok(())
}

/// Sign-ins at a time: argon2 takes ~19 MiB per hash, so 64 at once would
/// make the server's peak memory a measure of the set-up, not of the load.
const SIGN_INS_AT_ONCE: usize = 4;

/// Signs every annotator in, a few at a time, before the clock starts
/// (signing in is deliberately slow: argon2). A refusal stops the run with
/// its reason.
async fn sign_in_all(o: &Options, http: &reqwest::Client) -> anyhow::Result<Vec<Annotator>> {
    let mut annotators = Vec::with_capacity(o.annotators);
    let ids: Vec<usize> = (0..o.annotators).collect();
    for chunk in ids.chunks(SIGN_INS_AT_ONCE) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let mut annotator = new_annotator(o, http, i);
                tokio::spawn(async move {
                    let signed_in = annotator.sign_in().await;
                    (annotator, signed_in)
                })
            })
            .collect();
        for task in tasks {
            let (annotator, signed_in) = task.await?;
            signed_in.map_err(|f| {
                anyhow!(
                    "signing in as {} at {}: {}",
                    annotator.username,
                    annotator.client.base,
                    f.describe()
                )
            })?;
            annotators.push(annotator);
        }
    }
    Ok(annotators)
}

/// Annotator i: its server (round-robin), account and random stream.
fn new_annotator(o: &Options, http: &reqwest::Client, i: usize) -> Annotator {
    let client = Client {
        http: http.clone(),
        base: o.targets[i % o.targets.len()]
            .trim_end_matches('/')
            .to_string(),
        token: None,
    };
    let username = format!("{}{i}", o.user_prefix);
    let rng = StdRng::seed_from_u64(o.seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
    Annotator::new(client, username, o.password.clone(), rng)
}
