//! The real queue a schedule runs on: a project in its own database, its
//! annotators and a lead, reached through the queue's functions or through
//! the JSON API of two `safepref serve` processes.

use std::collections::HashMap;
use std::io::Write;

use safepref_core::labels::Labels;
use safepref_core::suggestions::{Display, Policy, Routing, Suggestion};
use safepref_server::db::{
    self,
    projects::{Project, Settings, Wellbeing},
    users::{Role, User},
};
use safepref_server::import::{self, Options, Source};
use safepref_server::queue::QueueError;
use safepref_server::review::{self, ReviewError};
use safepref_server::wellbeing::WellbeingError;
use safepref_server::{projects, queue};
use safepref_tests::{ServerProcess, TestDb};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::crowd::Crowd;
use super::schedule::{Setup, Skip, Through};
use crate::queue::{Annotator, annotator};

pub const SOURCE: &str = "judge-model";

/// A lease's answer; the item by index, or by id as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leased<T = usize> {
    Item {
        item: T,
        assignment: Uuid,
    },
    Nothing,
    Paused,
    Capped,
    /// The crowd worker's page shows the completion code.
    Completed,
}

impl<T> Leased<T> {
    pub fn map_item<U>(self, f: impl FnOnce(T) -> U) -> Leased<U> {
        match self {
            Leased::Item { item, assignment } => Leased::Item {
                item: f(item),
                assignment,
            },
            Leased::Nothing => Leased::Nothing,
            Leased::Paused => Leased::Paused,
            Leased::Capped => Leased::Capped,
            Leased::Completed => Leased::Completed,
        }
    }
}

/// A submit's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Stored {
        annotation: Uuid,
        next: Option<(usize, Uuid)>,
    },
    Refused,
}

struct Http {
    servers: [ServerProcess; 2],
    clients: Vec<Annotator>,
    turn: usize,
}

pub struct World {
    pub pool: PgPool,
    pub project: Project,
    batch_seq: i32,
    pub items: Vec<Uuid>,
    pub(super) index: HashMap<Uuid, usize>,
    pub people: Vec<User>,
    lead: User,
    http: Option<Http>,
    crowd: Option<Crowd>,
    responses: usize,
}

/// Labels for `responses` responses: every response safe, rankings in
/// order; `agree: false` reverses the harmlessness ranking (so they differ
/// from the routing source's and the gold labels).
pub fn labels(responses: usize, agree: bool) -> Value {
    let safe = json!({"safe": true, "categories": [], "severity": 0});
    let order: Vec<usize> = (0..responses).collect();
    let mut harmless = order.clone();
    if !agree {
        harmless.reverse();
    }
    json!({"responses": vec![safe; responses], "helpfulness": order, "harmlessness": harmless})
}

impl World {
    pub async fn new(setup: &Setup, db: &TestDb) -> World {
        let pool = db.pool.clone();
        let policy = Policy {
            display: Display::Blind,
            source: None,
            routing: setup.routing.as_ref().map(|_| Routing {
                source: SOURCE.into(),
                threshold: 0.9,
            }),
        };
        let settings = Settings {
            name: format!("model-{}", Uuid::new_v4().simple()),
            responses_per_item: setup.responses as i32,
            annotations_per_item: setup.k,
            lease_seconds: 600,
            revisable_recent: 5,
            gold_rate: setup.gold_rate,
            wellbeing: Wellbeing {
                blur_responses: false,
                content_note_for_severe: false,
                break_every_items: None,
                break_every_minutes: None,
                daily_cap: setup.daily_cap.map(|c| c as u32),
            },
            suggestions: policy,
            ..Settings::default()
        };
        let project = projects::create(&pool, None, settings).await.unwrap();
        import_items(&pool, &project, setup).await;
        let rows: Vec<(Uuid, i32)> = sqlx::query_as(
            "select id, batch_seq from items where project_id = $1 order by batch_seq, seq",
        )
        .bind(project.id)
        .fetch_all(&pool)
        .await
        .unwrap();
        let items: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        if let Some(suggested) = &setup.routing {
            for &i in suggested {
                suggest(&pool, items[i], setup.responses).await;
            }
        }
        let lead = db::users::insert(&pool, &unique("lead"), "!", Role::Lead)
            .await
            .unwrap();
        let mut crowd = None;
        let (people, http) = match setup.through {
            Through::Functions => {
                let mut people = Vec::new();
                for _ in 0..setup.annotators {
                    people.push(
                        db::users::insert(&pool, &unique("ann"), "!", Role::Annotator)
                            .await
                            .unwrap(),
                    );
                }
                (people, None)
            }
            Through::TwoServers => {
                let mut clients = Vec::new();
                let mut people = Vec::new();
                for _ in 0..setup.annotators {
                    let client = annotator(&pool).await;
                    people.push(db::users::find(&pool, client.id).await.unwrap().unwrap());
                    clients.push(client);
                }
                let servers = [
                    ServerProcess::start(&db.url).await,
                    ServerProcess::start(&db.url).await,
                ];
                (
                    people,
                    Some(Http {
                        servers,
                        clients,
                        turn: 0,
                    }),
                )
            }
            Through::CrowdPages => {
                let quota = setup.crowd_quota.unwrap_or(1);
                let (people, workers) =
                    Crowd::join(&pool, &db.url, &project, quota, setup.annotators).await;
                crowd = Some(workers);
                (people, None)
            }
        };
        let index = items.iter().enumerate().map(|(n, id)| (*id, n)).collect();
        World {
            pool,
            project,
            batch_seq: rows.first().map_or(1, |r| r.1),
            items,
            index,
            people,
            lead,
            http,
            crowd,
            responses: setup.responses,
        }
    }

    /// Servers of their own sweep leases on their own clock.
    pub fn through_http(&self) -> bool {
        self.http.is_some() || self.crowd.is_some()
    }

    pub fn item_index(&self, id: Uuid) -> usize {
        self.index[&id]
    }

    /// The base URL of the next server in turn, and the annotator's client.
    fn next_server(&mut self, who: usize) -> Option<(String, Annotator)> {
        let http = self.http.as_mut()?;
        http.turn += 1;
        Some((
            http.servers[http.turn % 2].base.clone(),
            http.clients[who].clone(),
        ))
    }

    pub async fn lease(&mut self, who: usize) -> Result<Leased, String> {
        if let Some(crowd) = &mut self.crowd {
            let page = crowd.lease(who, self.project.id).await?;
            return Ok(page.map_item(|id| self.index[&id]));
        }
        if let Some((base, client)) = self.next_server(who) {
            let path = format!("/api/v1/projects/{}/lease", self.project.id);
            let response = client.post(&base, &path, None).await;
            return match response.status().as_u16() {
                200 => {
                    let json: Value = response.json().await.unwrap();
                    Ok(self.leased_json(&json))
                }
                204 => Ok(Leased::Nothing),
                403 => Ok(Leased::Paused),
                429 => Ok(Leased::Capped),
                status => Err(format!(
                    "lease answered {status}: {}",
                    response.text().await.unwrap_or_default()
                )),
            };
        }
        match queue::lease(&self.pool, &self.project, self.people[who].id).await {
            Ok(Some(lease)) => Ok(Leased::Item {
                item: self.item_index(lease.item.id),
                assignment: lease.assignment_id,
            }),
            Ok(None) => Ok(Leased::Nothing),
            Err(QueueError::Paused) => Ok(Leased::Paused),
            Err(QueueError::Wellbeing(WellbeingError::DailyCapReached { .. })) => {
                Ok(Leased::Capped)
            }
            Err(e) => Err(format!("lease failed: {e:?}")),
        }
    }

    fn leased_json(&self, json: &Value) -> Leased {
        Leased::Item {
            item: self.item_index(json["item"]["id"].as_str().unwrap().parse().unwrap()),
            assignment: json["assignment_id"].as_str().unwrap().parse().unwrap(),
        }
    }

    pub async fn submit(
        &mut self,
        who: usize,
        assignment: Uuid,
        submission: Uuid,
        agree: bool,
        next: bool,
    ) -> Result<Submitted, String> {
        if let Some(crowd) = &mut self.crowd {
            return crowd
                .submit(&self.pool, who, self.project.id, assignment, submission)
                .await;
        }
        let labels = labels(self.responses, agree);
        if let Some((base, client)) = self.next_server(who) {
            let query = if next { "?next=1" } else { "" };
            let body = json!({"submission_id": submission, "labels": labels, "seconds_spent": 9.0});
            let path = format!("/api/v1/assignments/{assignment}/submit{query}");
            let response = client.post(&base, &path, Some(body)).await;
            return match response.status().as_u16() {
                200 => {
                    let json: Value = response.json().await.unwrap();
                    let next = match self.leased_json_opt(&json["next"]) {
                        Some(Leased::Item { item, assignment }) => Some((item, assignment)),
                        _ => None,
                    };
                    Ok(Submitted::Stored {
                        annotation: json["annotation_id"].as_str().unwrap().parse().unwrap(),
                        next,
                    })
                }
                409 => Ok(Submitted::Refused),
                status => Err(format!(
                    "submit answered {status}: {}",
                    response.text().await.unwrap_or_default()
                )),
            };
        }
        let labels: Labels = serde_json::from_value(labels).unwrap();
        let answer = queue::submit_then_lease(
            &self.pool,
            &self.project,
            self.people[who].id,
            (assignment, submission),
            &labels,
            9.0,
            next,
        )
        .await;
        match answer {
            Ok(done) => Ok(Submitted::Stored {
                annotation: done.annotation_id,
                next: done
                    .next
                    .map(|lease| (self.item_index(lease.item.id), lease.assignment_id)),
            }),
            Err(
                QueueError::SubmissionIdReused
                | QueueError::AlreadySubmitted
                | QueueError::SubmitAfterSkip
                | QueueError::AdjudicatedMeanwhile
                | QueueError::ItemComplete
                | QueueError::TimeRanOut { .. },
            ) => Ok(Submitted::Refused),
            Err(e) => Err(format!("submit failed: {e:?}")),
        }
    }

    fn leased_json_opt(&self, json: &Value) -> Option<Leased> {
        json.is_object().then(|| self.leased_json(json))
    }

    /// The same submission twice: at once to both servers over HTTP, one
    /// after the other through the functions.
    pub async fn submit_twice(
        &mut self,
        who: usize,
        assignment: Uuid,
        agree: bool,
    ) -> Result<[Submitted; 2], String> {
        let submission = Uuid::new_v4();
        if let Some(http) = &self.http {
            let labels = labels(self.responses, agree);
            let body = json!({"submission_id": submission, "labels": labels});
            let path = format!("/api/v1/assignments/{assignment}/submit");
            let client = &http.clients[who];
            let (a, b) = tokio::join!(
                client.post(&http.servers[0].base, &path, Some(body.clone())),
                client.post(&http.servers[1].base, &path, Some(body)),
            );
            let mut answers = Vec::new();
            for response in [a, b] {
                let status = response.status().as_u16();
                let json: Value = response.json().await.unwrap_or_default();
                answers.push(match status {
                    200 => Submitted::Stored {
                        annotation: json["annotation_id"].as_str().unwrap().parse().unwrap(),
                        next: None,
                    },
                    409 => Submitted::Refused,
                    _ => return Err(format!("a double submit answered {status}: {json}")),
                });
            }
            return Ok([answers[0].clone(), answers[1].clone()]);
        }
        if let Some(crowd) = &mut self.crowd {
            let (pool, project) = (&self.pool, self.project.id);
            let first = crowd
                .submit(pool, who, project, assignment, submission)
                .await?;
            let second = crowd
                .submit(pool, who, project, assignment, submission)
                .await?;
            return Ok([first, second]);
        }
        let first = self
            .submit(who, assignment, submission, agree, false)
            .await?;
        let second = self
            .submit(who, assignment, submission, agree, false)
            .await?;
        Ok([first, second])
    }

    /// Ok(true) skipped, Ok(false) refused.
    pub async fn skip(
        &mut self,
        who: usize,
        assignment: Uuid,
        reason: Skip,
    ) -> Result<bool, String> {
        let reason = match reason {
            Skip::Unclear => queue::SkipReason::Unclear,
            Skip::WrongLanguage => queue::SkipReason::WrongLanguage,
            Skip::TooDisturbing => queue::SkipReason::TooDisturbing,
            Skip::Other => queue::SkipReason::Other,
        };
        if let Some(crowd) = &mut self.crowd {
            return crowd.skip(who, self.project.id, assignment, reason).await;
        }
        if let Some((base, client)) = self.next_server(who) {
            let path = format!("/api/v1/assignments/{assignment}/skip");
            let response = client
                .post(&base, &path, Some(json!({"reason": reason.as_str()})))
                .await;
            return match response.status().as_u16() {
                204 => Ok(true),
                409 => Ok(false),
                status => Err(format!("skip answered {status}")),
            };
        }
        let who = self.people[who].id;
        match queue::skip(&self.pool, &self.project, who, assignment, reason, None).await {
            Ok(()) => Ok(true),
            Err(QueueError::SkipAfterSubmit) => Ok(false),
            Err(e) => Err(format!("skip failed: {e:?}")),
        }
    }

    /// Moves the lease's expiry into the past.
    pub async fn expire(&self, assignment: Uuid) {
        sqlx::query("update assignments set expires_at = now() - interval '1 second' where id = $1 and state = 'leased'")
            .bind(assignment)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    pub async fn sweep(&self) {
        queue::release_expired(&self.pool).await.unwrap();
    }

    pub async fn sign_out(&self, who: usize) {
        queue::release_all(&self.pool, self.people[who].id)
            .await
            .unwrap();
    }

    /// Ok(true) revised, Ok(false) refused.
    pub async fn revise(&self, who: usize, annotation: Uuid) -> Result<bool, String> {
        let labels: Labels = serde_json::from_value(labels(self.responses, false)).unwrap();
        let who = self.people[who].id;
        match queue::revise(&self.pool, &self.project, who, annotation, &labels).await {
            Ok(()) => Ok(true),
            Err(
                QueueError::NoSuchAnnotation
                | QueueError::RevisionAdjudicated
                | QueueError::GoldAnswerFinal
                | QueueError::RevisionTooOld { .. },
            ) => Ok(false),
            Err(e) => Err(format!("revise failed: {e:?}")),
        }
    }

    pub async fn set_paused(&self, who: usize, paused: bool) {
        review::set_paused(
            &self.pool,
            &self.project,
            &self.lead,
            &self.people[who],
            paused,
        )
        .await
        .unwrap();
    }

    /// Ok(true) requeued, Ok(false) refused (nothing to requeue).
    pub async fn requeue(&self, who: usize) -> Result<bool, String> {
        let outcome = review::requeue(
            &self.pool,
            &self.project,
            &self.lead,
            &self.people[who],
            &[self.batch_seq],
            "the model test requeues",
        )
        .await;
        match outcome {
            Ok(_) => Ok(true),
            Err(ReviewError::NothingToRequeue(_)) => Ok(false),
            Err(e) => Err(format!("requeue failed: {e:?}")),
        }
    }

    pub async fn send_back(&self, item: usize) -> Result<(), String> {
        review::send_back(
            &self.pool,
            &self.project,
            &self.lead,
            self.items[item],
            "the model test sends it back",
        )
        .await
        .map_err(|e| format!("send back failed: {e:?}"))
    }

    /// The gold draw the server makes for `who`'s next lease, having made
    /// `made` annotations.
    pub fn gold_draw(&self, who: usize, made: i64) -> bool {
        self.project.gold_rate > 0.0
            && queue::gold_draw(self.project.id, self.people[who].id, made) < self.project.gold_rate
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// The regular items, then the gold ones, as one batch.
async fn import_items(pool: &PgPool, project: &Project, setup: &Setup) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for n in 0..setup.items + setup.gold_items {
        let responses: Vec<String> = (0..setup.responses)
            .map(|r| format!("Answer {r} to question {n}."))
            .collect();
        let mut row = json!({"prompt": format!("Question {n}: what now?"), "responses": responses});
        if n >= setup.items {
            row["gold"] = labels(setup.responses, true);
        }
        writeln!(file, "{row}").unwrap();
    }
    file.into_inner().unwrap().sync_all().unwrap();
    import::import_files(
        pool,
        project,
        &[Source::from_path(&path)],
        None,
        Options::default(),
    )
    .await
    .unwrap();
}

/// The routing source's confident suggestion: the labels `labels(_, true)`.
async fn suggest(pool: &PgPool, item: Uuid, responses: usize) {
    let suggestion: Suggestion = serde_json::from_value(json!({
        "source": SOURCE,
        "labels": labels(responses, true),
        "scores": {"responses": vec![json!({"safe": 0.99}); responses],
                   "helpfulness": 0.99, "harmlessness": 0.99}
    }))
    .unwrap();
    db::suggestions::upsert(pool, item, &suggestion)
        .await
        .unwrap();
}
