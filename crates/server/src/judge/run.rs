//! One run: every item of a project (or batch) that has no suggestion from
//! this source yet is sent to the model, at most `concurrency` at a time.
//! Each suggestion is stored as soon as it is checked, so a run that is
//! stopped or killed loses nothing, and the next run does only the rest.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use safepref_core::judge::{self, Answer, AnswerError, ItemText, JudgeContext, Template};
use safepref_core::suggestions::{Scores, Suggestion};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use super::JudgeError;
use super::client::{CallError, ChatClient, Completion, Message};
use crate::db::{self, judge::NewFailure, projects::Project};

/// How often a run writes its progress (and that it is alive).
const HEARTBEAT: Duration = Duration::from_secs(2);
/// The most calls in flight a run may ask for.
pub const MAX_CONCURRENCY: usize = 256;

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cli,
    Page,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::Page => "page",
        }
    }
}

/// What a run is to do.
#[derive(Debug, Clone)]
pub struct Plan {
    pub project: Project,
    /// Only this batch (its number in the project).
    pub batch: Option<i32>,
    /// At most this many items.
    pub limit: Option<i64>,
    pub concurrency: usize,
    pub template: Template,
    pub model: String,
    pub endpoint: String,
    pub origin: Origin,
    pub actor: Option<Uuid>,
}

impl Plan {
    /// The suggestions' source: the model's name and the template's version.
    pub fn source(&self) -> Result<String, JudgeError> {
        judge::source_name(&self.model, &self.template.version()).map_err(JudgeError::Model)
    }

    pub(super) fn context(&self) -> JudgeContext<'_> {
        JudgeContext {
            k: self.project.responses_per_item,
            taxonomy: &self.project.taxonomy,
            questions: &self.project.questions,
        }
    }

    /// Refuses a plan that cannot run, before anything is written.
    pub async fn check(&self, pool: &PgPool) -> Result<String, JudgeError> {
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(JudgeError::BadOptions(format!(
                "concurrency {} is out of range: give 1 to {MAX_CONCURRENCY}",
                self.concurrency
            )));
        }
        if self.limit.is_some_and(|l| l < 1) {
            return Err(JudgeError::BadOptions(
                "the limit must be at least 1 item".into(),
            ));
        }
        if let Some(batch) = self.batch
            && !db::judge::batch_exists(pool, self.project.id, batch).await?
        {
            return Err(JudgeError::NoSuchBatch {
                project: self.project.name.clone(),
                batch,
            });
        }
        self.source()
    }

    fn options(&self) -> Value {
        json!({"batch": self.batch, "limit": self.limit, "concurrency": self.concurrency})
    }
}

/// Where a run stands, for a progress bar or the page.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// Items this run is to ask about.
    pub total: u64,
    pub done: u64,
    pub stored: u64,
    pub failed: u64,
    pub elapsed: Duration,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub run: Uuid,
    pub source: String,
    /// Items that already had this source's suggestion (skipped).
    pub already: i64,
    /// Items this run was to ask about.
    pub items: u64,
    /// Items asked about before the run was stopped.
    pub done: u64,
    pub stored: u64,
    /// Items left without a suggestion, by the kind of their last failure.
    pub failures: BTreeMap<String, u64>,
    /// Invalid answers the model was asked to correct.
    pub answers_retried: u64,
    /// Calls tried again after a 5xx, a timeout, a 429 or a dropped connection.
    pub calls_retried: u64,
    /// Stored suggestions by where their scores came from: `logprobs`,
    /// `stated` (the model's own confidence) or `none`.
    pub scores_from: BTreeMap<&'static str, u64>,
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
    pub wall: Duration,
    /// Stopped before the end (Ctrl-C); a rerun finishes the rest.
    pub interrupted: bool,
}

/// Counters shared by the run's concurrent items.
#[derive(Default)]
struct Tally {
    done: AtomicU64,
    stored: AtomicU64,
    answers_retried: AtomicU64,
    calls_retried: AtomicU64,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
    /// Whether the server reported usage at all (else tokens are unknown).
    usage_seen: AtomicBool,
    failures: Mutex<BTreeMap<String, u64>>,
    scores_from: Mutex<BTreeMap<&'static str, u64>>,
}

impl Tally {
    fn failed(&self) -> u64 {
        self.failures.lock().expect("tally").values().sum()
    }

    fn count_usage(&self, completion: &Completion) {
        if let Some(n) = completion.tokens_in {
            self.tokens_in.fetch_add(n, Ordering::Relaxed);
            self.usage_seen.store(true, Ordering::Relaxed);
        }
        if let Some(n) = completion.tokens_out {
            self.tokens_out.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn tokens(&self) -> (Option<u64>, Option<u64>) {
        if !self.usage_seen.load(Ordering::Relaxed) {
            return (None, None);
        }
        (
            Some(self.tokens_in.load(Ordering::Relaxed)),
            Some(self.tokens_out.load(Ordering::Relaxed)),
        )
    }

    fn progress(&self, total: u64) -> db::judge::Progress {
        let (tokens_in, tokens_out) = self.tokens();
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        db::judge::Progress {
            items_total: signed(total),
            items_done: signed(self.done.load(Ordering::Relaxed)),
            stored: signed(self.stored.load(Ordering::Relaxed)),
            tokens_in: tokens_in.map(signed),
            tokens_out: tokens_out.map(signed),
        }
    }
}

/// What is the same for every item of a run.
struct Shared<'a> {
    pool: &'a PgPool,
    client: &'a ChatClient,
    plan: &'a Plan,
    schema: Value,
    source: String,
    /// The template's version, stored with every suggestion.
    version: String,
    run: Uuid,
    tally: Tally,
}

/// Records the run and its template; returns the run's id. A page's run
/// is refused while another run of the project is going on.
pub async fn begin(pool: &PgPool, plan: &Plan) -> Result<Uuid, JudgeError> {
    let source = plan.check(pool).await?;
    let version = plan.template.version();
    let run = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    if plan.origin == Origin::Page
        && db::judge::lock_and_check_running(&mut tx, plan.project.id).await?
    {
        return Err(JudgeError::AlreadyRunning);
    }
    db::judge::save_template(&mut *tx, &version, plan.template.text()).await?;
    db::judge::create_run(
        &mut *tx,
        &db::judge::NewRun {
            id: run,
            project_id: plan.project.id,
            requested_by: plan.actor,
            origin: plan.origin.as_str(),
            endpoint: &plan.endpoint,
            model: &plan.model,
            source: &source,
            template_version: &version,
            options: plan.options(),
        },
    )
    .await?;
    db::audit::record(
        &mut *tx,
        plan.actor,
        "model suggestions started",
        &crate::projects::subject(plan.project.id),
        None,
        Some(json!({"run": run, "source": source, "model": plan.model,
                    "endpoint": plan.endpoint, "options": plan.options()})),
    )
    .await?;
    tx.commit().await?;
    Ok(run)
}

/// Runs a begun run to its end (or until `stop` turns true: the items in
/// flight finish, no new one starts), records how it ended, and says what
/// it did. `progress` is told after every item.
pub async fn execute(
    pool: &PgPool,
    client: &ChatClient,
    plan: &Plan,
    run: Uuid,
    progress: &(dyn Fn(&Snapshot) + Send + Sync),
    stop: watch::Receiver<bool>,
) -> Result<Summary, JudgeError> {
    let started = Instant::now();
    let outcome = work(pool, client, plan, run, progress, stop, started).await;
    let (state, error) = match &outcome {
        Ok(summary) if summary.interrupted => ("interrupted", None),
        Ok(_) => ("done", None),
        Err(e) => ("failed", Some(e.to_string())),
    };
    db::judge::finish_run(pool, run, state, error.as_deref()).await?;
    if let Ok(summary) = &outcome {
        db::audit::record(
            pool,
            plan.actor,
            "model suggestions finished",
            &crate::projects::subject(plan.project.id),
            None,
            Some(json!({"run": run, "state": state, "items": summary.done,
                        "stored": summary.stored, "failures": summary.failures})),
        )
        .await?;
    }
    outcome
}

async fn work(
    pool: &PgPool,
    client: &ChatClient,
    plan: &Plan,
    run: Uuid,
    progress: &(dyn Fn(&Snapshot) + Send + Sync),
    stop: watch::Receiver<bool>,
    started: Instant,
) -> Result<Summary, JudgeError> {
    let source = plan.source()?;
    let already = db::judge::already_suggested(pool, plan.project.id, plan.batch, &source).await?;
    let items =
        db::judge::pending_items(pool, plan.project.id, plan.batch, &source, plan.limit).await?;
    let total = items.len() as u64;
    let shared = Shared {
        pool,
        client,
        plan,
        schema: judge::answer_schema(&plan.context()),
        source: source.clone(),
        version: plan.template.version(),
        run,
        tally: Tally::default(),
    };
    let heartbeat = heartbeat(pool, run, &shared.tally, total);
    let snapshot = |tally: &Tally| Snapshot {
        total,
        done: tally.done.load(Ordering::Relaxed),
        stored: tally.stored.load(Ordering::Relaxed),
        failed: tally.failed(),
        elapsed: started.elapsed(),
    };
    progress(&snapshot(&shared.tally));
    let mut outcomes = stream::iter(items)
        .take_while(|_| std::future::ready(!*stop.borrow()))
        .map(|item| ask_about(&shared, item))
        .buffer_unordered(plan.concurrency);
    let mut result = Ok(());
    let work = async {
        while let Some(outcome) = outcomes.next().await {
            if let Err(e) = outcome {
                result = Err(e);
                break;
            }
            progress(&snapshot(&shared.tally));
        }
    };
    tokio::select! {
        () = work => {}
        () = heartbeat => unreachable!("the heartbeat never ends"),
    }
    drop(outcomes);
    result?;
    db::judge::heartbeat(pool, run, &shared.tally.progress(total)).await?;
    let tally = shared.tally;
    let (tokens_in, tokens_out) = tally.tokens();
    let done = tally.done.load(Ordering::Relaxed);
    Ok(Summary {
        run,
        source,
        already,
        items: total,
        done,
        stored: tally.stored.load(Ordering::Relaxed),
        failures: tally.failures.into_inner().expect("tally"),
        answers_retried: tally.answers_retried.load(Ordering::Relaxed),
        calls_retried: tally.calls_retried.load(Ordering::Relaxed),
        scores_from: tally.scores_from.into_inner().expect("tally"),
        tokens_in,
        tokens_out,
        wall: started.elapsed(),
        interrupted: done < total,
    })
}

/// Writes the run's progress every few seconds, for the page and to show
/// it is alive. A failed write is logged; the next one may succeed.
async fn heartbeat(pool: &PgPool, run: Uuid, tally: &Tally, total: u64) {
    let mut every = tokio::time::interval(HEARTBEAT);
    loop {
        every.tick().await;
        if let Err(e) = db::judge::heartbeat(pool, run, &tally.progress(total)).await {
            tracing::warn!(%run, "could not record the run's progress: {e}");
        }
    }
}

/// Asks about one item: a call, and one more if the answer was not labels.
async fn ask_about(shared: &Shared<'_>, item: Uuid) -> Result<(), JudgeError> {
    let outcome = ask(shared, item).await;
    let tally = &shared.tally;
    match outcome? {
        Ok(()) => {
            tally.stored.fetch_add(1, Ordering::Relaxed);
        }
        Err(kind) => {
            *tally
                .failures
                .lock()
                .expect("tally")
                .entry(kind.to_string())
                .or_default() += 1;
        }
    }
    tally.done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Ok(Ok) stored, Ok(Err(kind)) no suggestion; Err: the database failed.
async fn ask(shared: &Shared<'_>, item: Uuid) -> Result<Result<(), &'static str>, JudgeError> {
    let Some((prompt, responses)) = db::judge::item_text(shared.pool, item).await? else {
        return Ok(Err("bad_response")); // deleted while the run went on
    };
    let mut messages = render(shared.plan, &prompt, &responses);
    for attempt in 1..=2 {
        let completion = match call(shared, &messages).await {
            Ok(completion) => completion,
            Err(error) => {
                fail(
                    shared,
                    item,
                    attempt,
                    error.kind(),
                    &error.to_string(),
                    None,
                )
                .await?;
                return Ok(Err(error.kind()));
            }
        };
        match judge::parse_answer(&completion.text, &shared.plan.context()) {
            Ok(answer) => {
                store(shared, item, &completion, answer).await?;
                return Ok(Ok(()));
            }
            Err(error) => {
                let kind = error.kind.as_str();
                fail(
                    shared,
                    item,
                    attempt,
                    kind,
                    &error.message,
                    Some(&completion.text),
                )
                .await?;
                if attempt == 2 {
                    return Ok(Err(kind));
                }
                shared.tally.answers_retried.fetch_add(1, Ordering::Relaxed);
                messages.extend(correction(&completion.text, &error));
            }
        }
    }
    unreachable!("the second attempt returns")
}

/// The conversation for an item: the template's system and user messages.
pub fn render(plan: &Plan, prompt: &str, responses: &[String]) -> Vec<Message> {
    let rendered = plan
        .template
        .render(&ItemText { prompt, responses }, &plan.context());
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = rendered.system {
        messages.push(Message {
            role: "system",
            content: system,
        });
    }
    messages.push(Message {
        role: "user",
        content: rendered.user,
    });
    messages
}

/// The model's answer as it was, then why it was not accepted.
fn correction(answer: &str, error: &AnswerError) -> [Message; 2] {
    [
        Message {
            role: "assistant",
            content: answer.to_string(),
        },
        Message {
            role: "user",
            content: judge::retry_message(error),
        },
    ]
}

async fn call(shared: &Shared<'_>, messages: &[Message]) -> Result<Completion, CallError> {
    let (result, stats) = shared.client.complete(messages, &shared.schema).await;
    let tally = &shared.tally;
    tally
        .calls_retried
        .fetch_add(u64::from(stats.retries), Ordering::Relaxed);
    if let Ok(completion) = &result {
        tally.count_usage(completion);
    }
    result
}

/// Scores from the tokens' log-probabilities where the server gave them,
/// else the model's stated confidence, else none; and which it was.
pub fn scores(completion: &Completion, answer: &Answer) -> (Scores, &'static str) {
    let from_logprobs = completion
        .tokens
        .as_ref()
        .and_then(|tokens| judge::logprob_scores(&completion.text, tokens, &answer.labels));
    match from_logprobs {
        Some(scores) => (scores, "logprobs"),
        None if answer.stated != Scores::default() => (answer.stated.clone(), "stated"),
        None => (Scores::default(), "none"),
    }
}

async fn store(
    shared: &Shared<'_>,
    item: Uuid,
    completion: &Completion,
    answer: Answer,
) -> Result<(), JudgeError> {
    let (scores, from) = scores(completion, &answer);
    let suggestion = Suggestion {
        source: shared.source.clone(),
        labels: answer.labels,
        scores,
    };
    db::judge::store_suggestion(shared.pool, item, &suggestion, &shared.version).await?;
    *shared
        .tally
        .scores_from
        .lock()
        .expect("tally")
        .entry(from)
        .or_default() += 1;
    Ok(())
}

async fn fail(
    shared: &Shared<'_>,
    item: Uuid,
    attempt: i16,
    kind: &str,
    message: &str,
    raw: Option<&str>,
) -> Result<(), JudgeError> {
    db::judge::record_failure(
        shared.pool,
        &NewFailure {
            run: shared.run,
            item,
            attempt,
            kind,
            message,
            raw,
        },
    )
    .await?;
    Ok(())
}
