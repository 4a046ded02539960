//! A model-based test of the whole queue: seeded schedules of annotators
//! and leads (`schedule`), run on the real server and PostgreSQL (`world`),
//! every answer checked against a plain in-memory model (`model`, `run`).
//!
//! - CI runs the first 200 seeds through the queue's functions and a few
//!   through the JSON API of two `safepref serve` processes.
//! - `SAFEPREF_QUEUE_SCHEDULES=N` runs N seeds instead (and
//!   `SAFEPREF_QUEUE_FIRST_SEED=S` starts at S); `SAFEPREF_QUEUE_SEED=S`
//!   runs one; `SAFEPREF_QUEUE_REPLAY=FILE` runs a schedule a failure wrote.
//! - A failing seed is shrunk to the shortest schedule that still fails,
//!   written to `target/queue-model-failures/`, and printed with the
//!   command that replays it.

mod crowd;
mod model;
mod run;
mod schedule;
mod world;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use safepref_tests::TestDb;
use schedule::{Schedule, Through};
use tokio::task::JoinSet;

/// Schedules in flight at once (each on a database of its own).
const AT_ONCE: usize = 3;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a whole number"))
    })
}

/// The schedules through `through` this run covers, from the environment
/// or `default` seeds; a share of `SAFEPREF_QUEUE_SCHEDULES` (all of it for
/// the functions, 1 in 50 for each of the others).
fn chosen(default: u64, through: Through) -> Vec<Schedule> {
    if let Ok(path) = std::env::var("SAFEPREF_QUEUE_REPLAY") {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let schedule: Schedule =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        return if schedule.setup.through == through {
            vec![schedule]
        } else {
            vec![]
        };
    }
    if let Some(seed) = env_u64("SAFEPREF_QUEUE_SEED") {
        return vec![schedule::generate(seed, through)];
    }
    let count = env_u64("SAFEPREF_QUEUE_SCHEDULES").map_or(default, |n| {
        if through == Through::Functions {
            n
        } else {
            n / 50
        }
    });
    let first = env_u64("SAFEPREF_QUEUE_FIRST_SEED").unwrap_or(1);
    (first..first + count)
        .map(|seed| schedule::generate(seed, through))
        .collect()
}

async fn run_all(schedules: Vec<Schedule>) {
    let started = Instant::now();
    let total = schedules.len();
    let pending = Arc::new(Mutex::new(schedules.into_iter()));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..AT_ONCE {
        let (pending, finished) = (pending.clone(), finished.clone());
        workers.spawn(async move {
            // One database per worker, one schedule at a time in it: each
            // schedule has a project of its own, and a sweep (which ends
            // every overdue lease in the database) meets only its own.
            let db = Arc::new(TestDb::new().await);
            let mut failed = Vec::new();
            loop {
                let Some(schedule) = pending.lock().unwrap().next() else {
                    return failed;
                };
                if let Err(failure) = run_caught(&schedule, &db).await {
                    failed.push((schedule, failure));
                }
                // A long run says how far it is.
                let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 1_000 == 0 {
                    eprintln!(
                        "queue model: {n} of {total} schedules in {:.0} s, {} failed so far here",
                        started.elapsed().as_secs_f64(),
                        failed.len()
                    );
                }
            }
        });
    }
    let mut failed = Vec::new();
    while let Some(done) = workers.join_next().await {
        failed.extend(done.expect("a worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut failures = Vec::new();
    for (schedule, failure) in failed {
        failures.push(report(schedule, failure).await);
    }
    eprintln!(
        "queue model: {total} schedules in {elapsed:.1} s, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// [`run::run`] on `db`, with a panic of the harness reported as a failure
/// of the schedule like any other.
async fn run_caught(schedule: &Schedule, db: &Arc<TestDb>) -> Result<(), run::Failure> {
    let (mine, db) = (schedule.clone(), db.clone());
    match tokio::spawn(async move { run::run(&mine, &db).await }).await {
        Ok(outcome) => outcome,
        Err(e) => Err(run::Failure {
            step: schedule.steps.len(),
            message: format!("the schedule panicked: {e}"),
        }),
    }
}

/// Shrinks a failing schedule, writes the shortest one found, and says how
/// to replay both.
async fn report(schedule: Schedule, failure: run::Failure) -> String {
    let seed = schedule.seed;
    let original = format!(
        "seed {seed} failed at step {} ({:?}): {}",
        failure.step,
        schedule.steps.get(failure.step),
        failure.message
    );
    let (small, small_failure) = shrink(schedule, failure).await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/queue-model-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("seed-{seed}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&small).unwrap()).unwrap();
    format!(
        "{original}\n  replay: SAFEPREF_QUEUE_SEED={seed} cargo test -p safepref-tests --test e2e queue_model\n  \
         shrunk to {} steps ({} items, {} annotators), failing at step {}: {}\n  {}\n  \
         replay: SAFEPREF_QUEUE_REPLAY={} cargo test -p safepref-tests --test e2e queue_model",
        small.steps.len(),
        small.setup.items + small.setup.gold_items,
        small.setup.annotators,
        small_failure.step,
        small_failure.message,
        if small.steps.len() <= 60 {
            format!("{:?}", small.steps)
        } else {
            "(the steps are in the file)".into()
        },
        path.display()
    )
}

/// The smallest variant of `schedule` that still fails: fewer steps (a
/// chunk at a time, then one at a time), fewer items, no gold, routing or
/// cap. Bounded in time.
async fn shrink(mut schedule: Schedule, mut failure: run::Failure) -> (Schedule, run::Failure) {
    let db = Arc::new(TestDb::new().await);
    let deadline = Instant::now() + Duration::from_secs(120);
    // Steps after the failing one never ran.
    schedule.steps.truncate(failure.step + 1);
    let mut chunk = schedule.steps.len().div_ceil(2).max(1);
    loop {
        let mut at = 0;
        while at < schedule.steps.len() && Instant::now() < deadline {
            let mut candidate = schedule.clone();
            let end = (at + chunk).min(candidate.steps.len());
            candidate.steps.drain(at..end);
            match run_caught(&candidate, &db).await {
                Err(f) => {
                    schedule = candidate;
                    failure = f;
                }
                Ok(()) => at += chunk,
            }
        }
        if chunk == 1 || Instant::now() >= deadline {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    let mut smaller = true;
    while smaller && Instant::now() < deadline {
        smaller = false;
        for simpler in simpler_setups(&schedule) {
            if Instant::now() >= deadline {
                break;
            }
            if let Err(f) = run_caught(&simpler, &db).await {
                schedule = simpler;
                failure = f;
                smaller = true;
                break;
            }
        }
    }
    (schedule, failure)
}

fn simpler_setups(schedule: &Schedule) -> Vec<Schedule> {
    let mut out = Vec::new();
    let with = |change: &dyn Fn(&mut Schedule)| {
        let mut s = schedule.clone();
        change(&mut s);
        s
    };
    let setup = &schedule.setup;
    if setup.items > 1 {
        out.push(with(&|s| {
            s.setup.items = s.setup.items.div_ceil(2);
            if let Some(r) = &mut s.setup.routing {
                let n = s.setup.items;
                r.retain(|&i| i < n);
            }
        }));
    }
    if setup.gold_items > 0 {
        out.push(with(&|s| {
            s.setup.gold_items = 0;
            s.setup.gold_rate = 0.0;
        }));
    }
    if setup.routing.is_some() {
        out.push(with(&|s| s.setup.routing = None));
    }
    if setup.daily_cap.is_some() {
        out.push(with(&|s| s.setup.daily_cap = None));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_through_the_queue_functions_match_the_model() {
    run_all(chosen(200, Through::Functions)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_through_two_server_processes_match_the_model() {
    run_all(chosen(4, Through::TwoServers)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crowd_workers_on_the_annotation_page_match_the_model() {
    run_all(chosen(3, Through::CrowdPages)).await;
}
