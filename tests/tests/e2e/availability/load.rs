//! A steady load of annotators on one or more `safepref serve` processes,
//! recording every answer with its time, so a test can say when service
//! came back after a fault and check the database against what clients saw.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::faults::labels;

/// One answer: when its request was sent and answered, by which server.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub sent: Instant,
    pub answered: Instant,
    pub server: usize,
    pub status: u16,
    /// A submit (rather than a lease).
    pub submit: bool,
}

/// Annotators at work until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<Client>>,
    http: reqwest::Client,
}

/// What one annotator's client saw.
#[derive(Default)]
struct Client {
    token: String,
    answers: Vec<Answer>,
    /// submission id → annotation id, for submits answered 200.
    succeeded: HashMap<Uuid, Uuid>,
    /// Submits answered otherwise (or not at all): stored or not, unknown.
    unsure: Vec<(String, Uuid)>,
}

/// Everything the clients saw, once each has retried its unsure submits.
pub struct Outcome {
    pub answers: Vec<Answer>,
    pub succeeded: HashMap<Uuid, Uuid>,
    /// Submits retried with their submission id after a failed answer.
    pub retried: usize,
}

impl Load {
    /// Annotator i (signed in with `tokens[i]`) works through `bases[i % n]`.
    pub fn start(bases: &[String], tokens: Vec<String>, project: Uuid) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let clients = tokens
            .into_iter()
            .enumerate()
            .map(|(i, token)| {
                let server = i % bases.len();
                let work = work(
                    http.clone(),
                    bases[server].clone(),
                    server,
                    token,
                    project,
                    stop.clone(),
                );
                tokio::spawn(work)
            })
            .collect();
        Load {
            stop,
            clients,
            http,
        }
    }

    /// Stops the annotators, then retries every submit whose answer was not
    /// a 200, with the same submission id, as a careful client would.
    pub async fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::SeqCst);
        let mut outcome = Outcome {
            answers: Vec::new(),
            succeeded: HashMap::new(),
            retried: 0,
        };
        for client in self.clients {
            let client = client.await.expect("an annotator's client");
            for (path, submission) in &client.unsure {
                outcome.retried += 1;
                let r = self
                    .http
                    .post(path)
                    .bearer_auth(&client.token)
                    .json(&json!({"submission_id": submission, "labels": labels()}))
                    .send()
                    .await
                    .expect("the server answers the retry");
                if r.status() == 200 {
                    outcome
                        .succeeded
                        .insert(*submission, annotation_id(r.json().await.unwrap()));
                }
            }
            outcome.answers.extend(client.answers);
            outcome.succeeded.extend(client.succeeded);
        }
        outcome
    }
}

async fn work(
    http: reqwest::Client,
    base: String,
    server: usize,
    token: String,
    project: Uuid,
    stop: Arc<AtomicBool>,
) -> Client {
    let mut client = Client {
        token,
        ..Client::default()
    };
    while !stop.load(Ordering::SeqCst) {
        let lease_path = format!("{base}/api/v1/projects/{project}/lease");
        let Some((status, lease)) = client
            .call(&http, server, &lease_path, json!({}), false)
            .await
        else {
            continue;
        };
        if status != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let assignment = lease.expect("a lease")["assignment_id"]
            .as_str()
            .unwrap()
            .to_string();
        let path = format!("{base}/api/v1/assignments/{assignment}/submit");
        let submission = Uuid::new_v4();
        let body = json!({"submission_id": submission, "labels": labels()});
        match client.call(&http, server, &path, body, true).await {
            Some((200, Some(answer))) => {
                client.succeeded.insert(submission, annotation_id(answer));
            }
            _ => client.unsure.push((path, submission)),
        }
    }
    client
}

impl Client {
    /// Posts `body`; the status and, for a 200, the JSON answer. None when
    /// no answer came (the connection broke).
    async fn call(
        &mut self,
        http: &reqwest::Client,
        server: usize,
        url: &str,
        body: Value,
        submit: bool,
    ) -> Option<(u16, Option<Value>)> {
        let sent = Instant::now();
        let response = http
            .post(url)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        let json = if status == 200 {
            response.json().await.ok()
        } else {
            None
        };
        self.answers.push(Answer {
            sent,
            answered: Instant::now(),
            server,
            status,
            submit,
        });
        Some((status, json))
    }
}

fn annotation_id(answer: Value) -> Uuid {
    answer["annotation_id"].as_str().unwrap().parse().unwrap()
}

impl Outcome {
    /// How long after `fault` each server was back for good: its first 200
    /// to a request sent after its last 503 (or after the fault, if it gave
    /// no 503 after it).
    pub fn back_after(&self, fault: Instant, servers: usize) -> Vec<Option<Duration>> {
        (0..servers)
            .map(|server| {
                let mine = || self.answers.iter().filter(move |a| a.server == server);
                let last_failure = mine()
                    .filter(|a| a.status == 503 && a.answered > fault)
                    .map(|a| a.answered)
                    .max()
                    .unwrap_or(fault);
                mine()
                    .filter(|a| a.sent > last_failure && a.status == 200)
                    .map(|a| a.answered - fault)
                    .min()
            })
            .collect()
    }

    /// Submits answered 200 before and after `fault`.
    pub fn annotations_around(&self, fault: Instant) -> (usize, usize) {
        let ok = |a: &&Answer| a.submit && a.status == 200;
        let before = self
            .answers
            .iter()
            .filter(ok)
            .filter(|a| a.answered < fault)
            .count();
        let all = self.answers.iter().filter(ok).count();
        (before, all - before)
    }

    /// Answers by status.
    pub fn statuses(&self) -> HashMap<u16, usize> {
        let mut statuses = HashMap::new();
        for answer in &self.answers {
            *statuses.entry(answer.status).or_default() += 1;
        }
        statuses
    }

    /// The database holds exactly the annotations clients were told were
    /// stored (no false success, nothing lost, nothing doubled), and the
    /// queue's invariants hold.
    pub async fn check_database(&self, pool: &PgPool, url: &str, project: Uuid) {
        let stored: Vec<(Uuid, Uuid)> =
            sqlx::query_as("select submission_id, id from annotations where project_id = $1")
                .bind(project)
                .fetch_all(pool)
                .await
                .unwrap();
        let stored: HashMap<Uuid, Uuid> = stored.into_iter().collect();
        let unconfirmed: Vec<_> = stored
            .iter()
            .filter(|(s, a)| self.succeeded.get(s) != Some(a))
            .take(5)
            .collect();
        let lost: Vec<_> = self
            .succeeded
            .iter()
            .filter(|(s, a)| stored.get(s) != Some(a))
            .take(5)
            .collect();
        assert!(
            unconfirmed.is_empty() && lost.is_empty(),
            "stored without a 200 ({} in all): {unconfirmed:?}; answered 200 but not stored \
             ({} in all): {lost:?}",
            stored.len().saturating_sub(self.succeeded.len()),
            self.succeeded.len().saturating_sub(stored.len()),
        );
        let acknowledged: Vec<Uuid> = self.succeeded.values().copied().collect();
        let invariants = safepref_loadgen::load::check_invariants(url, project, &acknowledged)
            .await
            .expect("checking the queue's invariants");
        assert!(invariants.hold(), "{invariants}");
    }
}
