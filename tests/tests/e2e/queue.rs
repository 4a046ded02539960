//! The task queue over real HTTP and a real database: the invariants of
//! docs/ARCHITECTURE.md ("The task queue") under 50 annotators on two servers, then
//! expiry, refresh, skip, late submits, double submits, label rules,
//! ownership, revisions and sign-out one by one.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use safepref_core::labels::Labels;
use safepref_server::auth::{random_token, session::hash_token};
use safepref_server::config::Config;
use safepref_server::db::{
    self,
    projects::{Project, Settings},
    users::Role,
};
use safepref_server::import::{self, Options, Source};
use safepref_server::queue::QueueError;
use safepref_server::{AppState, projects, queue};
use safepref_tests::TestApp;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// An annotator speaking the JSON API with a bearer token.
#[derive(Clone)]
pub struct Annotator {
    pub id: Uuid,
    token: String,
    client: reqwest::Client,
}

/// A new annotator with a session made directly in the database (no
/// password hashing: fifty of them start in milliseconds).
pub async fn annotator(pool: &PgPool) -> Annotator {
    let name = format!("ann-{}", &Uuid::new_v4().simple().to_string()[..12]);
    let user = db::users::insert(pool, &name, "!", Role::Annotator)
        .await
        .unwrap();
    let token = random_token();
    sqlx::query(
        "insert into sessions (token_hash, user_id, csrf_token, expires_at) values ($1, $2, $3, now() + interval '1 day')",
    )
    .bind(hash_token(&token))
    .bind(user.id)
    .bind(random_token())
    .execute(pool)
    .await
    .unwrap();
    Annotator {
        id: user.id,
        token,
        client: reqwest::Client::new(),
    }
}

/// A lease as the API returns it.
#[derive(Debug, Clone)]
pub struct Leased {
    pub assignment: Uuid,
    pub item: Uuid,
    pub json: Value,
}

impl From<Value> for Leased {
    fn from(json: Value) -> Self {
        Leased {
            assignment: json["assignment_id"].as_str().unwrap().parse().unwrap(),
            item: json["item"]["id"].as_str().unwrap().parse().unwrap(),
            json,
        }
    }
}

impl Annotator {
    pub async fn post(&self, base: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{base}{path}"))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("POST")
    }

    /// Some(lease) on 200, None on 204; anything else fails the test.
    pub async fn lease(&self, base: &str, project: Uuid) -> Option<Leased> {
        let response = self
            .post(base, &format!("/api/v1/projects/{project}/lease"), None)
            .await;
        match response.status().as_u16() {
            204 => None,
            200 => Some(Leased::from(response.json::<Value>().await.unwrap())),
            status => panic!(
                "lease answered {status}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }

    async fn submit(
        &self,
        base: &str,
        assignment: Uuid,
        submission: Uuid,
        labels: &Value,
    ) -> reqwest::Response {
        self.submit_to(base, assignment, "", submission, labels)
            .await
    }

    /// POST /api/v1/assignments/{assignment}/submit{query}.
    async fn submit_to(
        &self,
        base: &str,
        assignment: Uuid,
        query: &str,
        submission: Uuid,
        labels: &Value,
    ) -> reqwest::Response {
        let body = json!({"submission_id": submission, "labels": labels, "seconds_spent": 12.5});
        self.post(
            base,
            &format!("/api/v1/assignments/{assignment}/submit{query}"),
            Some(body),
        )
        .await
    }

    /// Submits and expects 200; returns the annotation id.
    pub async fn submit_ok(&self, base: &str, assignment: Uuid, labels: &Value) -> Uuid {
        let response = self.submit(base, assignment, Uuid::new_v4(), labels).await;
        annotation_id(response).await
    }

    /// A submit asking for the next lease with the answer (`?next=1`).
    async fn submit_then_next(
        &self,
        base: &str,
        assignment: Uuid,
        submission: Uuid,
        labels: &Value,
    ) -> reqwest::Response {
        self.submit_to(base, assignment, "?next=1", submission, labels)
            .await
    }

    async fn skip(&self, base: &str, assignment: Uuid, body: Value) -> reqwest::Response {
        self.post(
            base,
            &format!("/api/v1/assignments/{assignment}/skip"),
            Some(body),
        )
        .await
    }
}

/// A submit's answer, which must be 200.
async fn answered(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "submit: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn annotation_id(response: reqwest::Response) -> Uuid {
    answered(response).await["annotation_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The error object of a refused request, with its status.
async fn refused(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let json: Value = response.json().await.unwrap();
    (
        status,
        json["error"]["code"].as_str().unwrap().to_string(),
        json["error"]["message"].as_str().unwrap().to_string(),
    )
}

/// Valid labels for K = 2 under the default questions.
pub(crate) fn labels() -> Value {
    json!({"responses": [{"safe": false, "categories": ["Violence"], "severity": 2},
                         {"safe": true, "categories": [], "severity": 0}],
           "helpfulness": [0, 1], "harmlessness": [1, 0]})
}

/// Valid labels of some variety.
fn random_labels(rng: &mut Rng) -> Value {
    let unsafe_one = |rng: &mut Rng| {
        let categories = ["Violence", "Drugs", "Cybercrime", "Privacy Violation"];
        json!({"safe": false, "categories": [categories[rng.below(4) as usize]], "severity": 1 + rng.below(3)})
    };
    let safe = json!({"safe": true, "categories": [], "severity": 0});
    let helpful = if rng.below(2) == 0 { [0, 1] } else { [1, 0] };
    match rng.below(3) {
        0 => {
            json!({"responses": [unsafe_one(rng), safe], "helpfulness": helpful, "harmlessness": [1, 0]})
        }
        1 => {
            json!({"responses": [safe, unsafe_one(rng)], "helpfulness": helpful, "harmlessness": [0, 1]})
        }
        _ => {
            let harmless = if rng.below(2) == 0 { [0, 1] } else { [1, 0] };
            json!({"responses": [safe.clone(), safe], "helpfulness": helpful, "harmlessness": harmless, "comment": "fine"})
        }
    }
}

/// xorshift64*: reproducible choices without another dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n
    }
}

/// A project with `items` generic items (K = 2), k annotations per item.
pub(crate) async fn project_with_items(
    pool: &PgPool,
    items: usize,
    k: i32,
    revisable_recent: i32,
) -> Project {
    let settings = Settings {
        name: format!("q-{}", Uuid::new_v4().simple()),
        annotations_per_item: k,
        lease_seconds: 30,
        revisable_recent,
        ..Settings::default()
    };
    let project = projects::create(pool, None, settings).await.unwrap();
    import_batch(pool, &project, 0, items).await;
    project
}

/// Imports items `from..from + count` as one batch.
async fn import_batch(pool: &PgPool, project: &Project, from: usize, count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("items-{from}.jsonl"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for n in from..from + count {
        let row = json!({"prompt": format!("Prompt number {n}: how do I do thing {n}?"),
                         "responses": [format!("First answer to {n}."), format!("Second answer to {n}.")]});
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

/// The project's item ids in queue order (batch, then file order).
async fn item_ids(pool: &PgPool, project: Uuid) -> Vec<Uuid> {
    sqlx::query_scalar("select id from items where project_id = $1 order by batch_seq, seq")
        .bind(project)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Moves a lease's expiry into the past (no sleeping in tests).
async fn expire(pool: &PgPool, assignment: Uuid) {
    sqlx::query("update assignments set expires_at = now() - interval '1 second' where id = $1")
        .bind(assignment)
        .execute(pool)
        .await
        .unwrap();
}

async fn scalar(pool: &PgPool, sql: &'static str, id: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A second server on the same database, as another `safepref serve`
/// process would be: its own pool, its own listener.
async fn second_server(app: &TestApp) -> String {
    let pool = db::pool_for(&app.db_url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(safepref_server::serve(
        listener,
        AppState::new(pool, Config::default()),
        std::future::pending(),
    ));
    base
}

/// What one simulated annotator did.
#[derive(Default)]
struct Log {
    /// (annotation id, submission id) of every acknowledged submit.
    acknowledged: Vec<(Uuid, Uuid)>,
    /// Submission ids sent twice at once (to both servers) and stored.
    doubled: Vec<Uuid>,
    /// Items skipped.
    skipped: Vec<Uuid>,
    refreshes: usize,
    /// Late submits refused (only when leases are expired under the annotators).
    refused: usize,
}

const K: i32 = 3;

/// One simulated annotator: lease, then submit valid labels (some twice at
/// once, to both servers), skip, or reload, until nothing is pending. With
/// `chaos`, leases may expire under it, so a refresh may give another item
/// and a late submit may be refused.
async fn work(
    n: usize,
    me: Annotator,
    servers: [String; 2],
    project: Uuid,
    pool: PgPool,
    chaos: bool,
) -> Log {
    let mut rng = Rng::new(n as u64 + 1);
    let mut log = Log::default();
    let deadline = Instant::now() + Duration::from_secs(120);
    // The lease a submit with `?next=1` brought, if any.
    let mut carried: Option<Leased> = None;
    loop {
        assert!(Instant::now() < deadline, "annotator {n} never finished");
        let here = &servers[rng.below(2) as usize];
        let there = &servers[rng.below(2) as usize];
        let leased = match carried.take() {
            Some(lease) => Some(lease),
            None => me.lease(here, project).await,
        };
        let Some(lease) = leased else {
            // Nothing for me now; others may still skip or drop items.
            let pending: i64 = sqlx::query_scalar(
                "select count(*) from items where project_id = $1 and state = 'pending'",
            )
            .bind(project)
            .fetch_one(&pool)
            .await
            .unwrap();
            if pending == 0 {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            continue;
        };
        let roll = rng.below(100);
        if roll < 5 {
            // A refresh, on either server, gives the same lease.
            let again = me.lease(there, project).await;
            if !chaos {
                let again = again.expect("the live lease");
                assert_eq!(
                    (again.assignment, again.item),
                    (lease.assignment, lease.item)
                );
            }
            log.refreshes += 1;
        }
        if roll >= 95 {
            let reason =
                ["unclear", "wrong_language", "too_disturbing", "other"][rng.below(4) as usize];
            let response = me
                .skip(there, lease.assignment, json!({"reason": reason}))
                .await;
            assert_eq!(response.status(), 204);
            log.skipped.push(lease.item);
            continue;
        }
        let submission = Uuid::new_v4();
        let labels = random_labels(&mut rng);
        let answers = if roll < 15 {
            // A double submit: the same submission id to both servers at once.
            let (a, b) = tokio::join!(
                me.submit(&servers[0], lease.assignment, submission, &labels),
                me.submit(&servers[1], lease.assignment, submission, &labels),
            );
            vec![a, b]
        } else if roll < 55 {
            // A submit that brings the next lease with its answer.
            vec![
                me.submit_then_next(there, lease.assignment, submission, &labels)
                    .await,
            ]
        } else {
            vec![
                me.submit(there, lease.assignment, submission, &labels)
                    .await,
            ]
        };
        let mut outcomes = Vec::new();
        for answer in answers {
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap();
            if body["next"].is_object() {
                carried = Some(Leased::from(body["next"].clone()));
            }
            outcomes.push(match status {
                200 => Some(
                    body["annotation_id"]
                        .as_str()
                        .unwrap()
                        .parse::<Uuid>()
                        .unwrap(),
                ),
                409 if chaos => {
                    let message = body["error"]["message"].as_str().unwrap();
                    assert!(message.contains("ran out"), "{message}");
                    None
                }
                _ => panic!("submit answered {status}: {body}"),
            });
        }
        assert!(
            outcomes.windows(2).all(|w| w[0] == w[1]),
            "a double submit answers the same: {outcomes:?}"
        );
        match outcomes[0] {
            Some(id) => {
                log.acknowledged.push((id, submission));
                if outcomes.len() == 2 {
                    log.doubled.push(submission);
                }
            }
            None => log.refused += 1,
        }
    }
}

/// Counts, while the annotators work, items whose leases + submissions
/// exceed k (from the assignment rows, not the counters), and items whose
/// counters disagree with the rows.
async fn watch(pool: PgPool, project: Uuid, stop: Arc<AtomicBool>) -> (usize, i64) {
    let mut checks = 0;
    let mut violations = 0;
    while !stop.load(Ordering::Relaxed) {
        let found: i64 = sqlx::query_scalar(
            "select count(*) from items i
              where i.project_id = $1
                and ((select count(*) from assignments a
                       where a.item_id = i.id and a.state in ('leased', 'submitted')) <> i.done + i.leased
                     or i.done + i.leased > $2
                     or (select count(*) from annotations an where an.item_id = i.id) <> i.done)",
        )
        .bind(project)
        .bind(K)
        .fetch_one(&pool)
        .await
        .unwrap();
        violations += found;
        checks += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (checks, violations)
}

/// Expires random live leases under the annotators, sweeping every other time.
async fn expire_at_random(pool: PgPool, project: Uuid, stop: Arc<AtomicBool>) -> u64 {
    let mut released = 0;
    let mut sweep = false;
    while !stop.load(Ordering::Relaxed) {
        sqlx::query(
            "update assignments set expires_at = now() - interval '1 second'
              where id in (select id from assignments where project_id = $1 and state = 'leased'
                           order by random() limit 2)",
        )
        .bind(project)
        .execute(&pool)
        .await
        .unwrap();
        sweep = !sweep;
        if sweep {
            released += queue::release_expired(&pool).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    released
}

/// Runs `annotators` simulated annotators against two servers on one
/// database until every item is complete, then checks every invariant.
async fn run_annotators(items: usize, annotators: usize, chaos: bool) {
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let servers = [app.base.clone(), second_server(&app).await];
    let project = project_with_items(&app.pool, items, K, 5).await;
    let mut people = Vec::new();
    for _ in 0..annotators {
        people.push(annotator(&app.pool).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch(app.pool.clone(), project.id, stop.clone()));
    let expirer =
        chaos.then(|| tokio::spawn(expire_at_random(app.pool.clone(), project.id, stop.clone())));
    let ready = started.elapsed();

    let tasks: Vec<_> = people
        .into_iter()
        .enumerate()
        .map(|(n, me)| {
            tokio::spawn(work(
                n,
                me,
                servers.clone(),
                project.id,
                app.pool.clone(),
                chaos,
            ))
        })
        .collect();
    let mut logs = Vec::new();
    for task in tasks {
        logs.push(task.await.expect("an annotator task panicked"));
    }
    let worked = started.elapsed() - ready;
    stop.store(true, Ordering::Relaxed);
    let (checks, violations) = watcher.await.unwrap();
    let expired = match expirer {
        Some(task) => task.await.unwrap(),
        None => 0,
    };
    assert_eq!(
        violations, 0,
        "leases + submissions exceeded k, or the counters disagreed with the rows, during the run"
    );
    assert!(checks > 0);

    let pool = &app.pool;
    let p = project.id;
    // Every item complete with exactly k annotations, counters at rest.
    assert_eq!(
        scalar(
            pool,
            "select count(*) from items where project_id = $1 and state = 'complete' and done = 3 and leased = 0",
            p
        )
        .await,
        items as i64,
        "all items complete"
    );
    assert_eq!(
        scalar(
            pool,
            "select sum(complete)::int8 from project_progress where project_id = $1",
            p
        )
        .await,
        items as i64,
        "completions counted"
    );
    assert_eq!(
        scalar(
            pool,
            "select count(*) from (select item_id from annotations where project_id = $1
                                    group by item_id having count(*) <> 3) x",
            p
        )
        .await,
        0,
        "no item above (or below) k annotations"
    );
    assert_eq!(
        scalar(
            pool,
            "select count(*) from (select 1 from annotations where project_id = $1
                                    group by item_id, annotator_id having count(*) > 1) x",
            p
        )
        .await,
        0,
        "no annotator twice on an item"
    );
    // No submission lost, none made up.
    let acknowledged: HashMap<Uuid, Uuid> = logs
        .iter()
        .flat_map(|l| l.acknowledged.iter().copied())
        .collect();
    assert_eq!(acknowledged.len(), items * 3);
    let ids: Vec<Uuid> = acknowledged.keys().copied().collect();
    let stored: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "select id, submission_id from annotations where project_id = $1 and id = any($2)",
    )
    .bind(p)
    .bind(&ids)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        stored.len(),
        ids.len(),
        "every acknowledged annotation exists"
    );
    for (id, submission) in &stored {
        assert_eq!(acknowledged[id], *submission);
    }
    assert_eq!(
        scalar(
            pool,
            "select count(*) from annotations where project_id = $1",
            p
        )
        .await,
        ids.len() as i64
    );
    // Double submits stored once.
    let doubled: Vec<Uuid> = logs
        .iter()
        .flat_map(|l| l.doubled.iter().copied())
        .collect();
    assert!(!doubled.is_empty());
    let stored_doubles: i64 =
        sqlx::query_scalar("select count(*) from annotations where submission_id = any($1)")
            .bind(&doubled)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(stored_doubles, doubled.len() as i64);
    // No live lease left; every annotation came from its own submitted lease.
    assert_eq!(
        scalar(
            pool,
            "select count(*) from assignments where project_id = $1 and state = 'leased'",
            p
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            pool,
            "select count(*) from annotations an join assignments a on a.id = an.assignment_id
              where an.project_id = $1
                and (a.state <> 'submitted' or a.item_id <> an.item_id or a.annotator_id <> an.annotator_id)",
            p
        )
        .await,
        0
    );
    // Skips are recorded with their reason and never came back to the skipper.
    let skipped: usize = logs.iter().map(|l| l.skipped.len()).sum();
    assert!(skipped > 0);
    assert_eq!(
        scalar(
            pool,
            "select count(*) from assignments where project_id = $1 and state = 'skipped' and skip_reason is not null",
            p
        )
        .await,
        skipped as i64
    );
    assert_eq!(
        scalar(
            pool,
            "select count(*) from assignments s join annotations an
                 on an.item_id = s.item_id and an.annotator_id = s.annotator_id
              where s.project_id = $1 and s.state = 'skipped'",
            p
        )
        .await,
        0
    );
    let refreshes: usize = logs.iter().map(|l| l.refreshes).sum();
    let refused: usize = logs.iter().map(|l| l.refused).sum();
    assert!(refreshes > 0);
    if !chaos {
        assert_eq!(refused, 0);
    }
    eprintln!(
        "queue{}: {} annotations ({} double submits, {skipped} skips, {refreshes} refreshes, {expired} leases \
         expired, {refused} late submits refused) by {annotators} annotators on 2 servers in {:.1} s ({:.0}/s); \
         set-up {:.1} s; {checks} invariant checks during the run",
        if chaos { " with expiry" } else { "" },
        ids.len(),
        doubled.len(),
        worked.as_secs_f64(),
        ids.len() as f64 / worked.as_secs_f64(),
        ready.as_secs_f64(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_annotators_on_two_servers_keep_every_invariant() {
    run_annotators(2_000, 50, false).await;
}

/// Leases expire under the annotators (swept or not): late submits,
/// re-leases and the sweep race submits, skips and leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_expiring_under_twenty_annotators_keep_every_invariant() {
    run_annotators(300, 20, true).await;
}

#[tokio::test]
async fn a_lease_comes_back_on_refresh_and_answers_its_item() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 2, 1, 5).await;
    let items = item_ids(&app.pool, project.id).await;
    let a = annotator(&app.pool).await;

    let listed: Value = a
        .client
        .get(app.url("/api/v1/projects"))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mine = listed["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == json!(project.id))
        .expect("the project is listed");
    assert_eq!(
        (mine["items"].clone(), mine["complete"].clone()),
        (json!(2), json!(0))
    );

    let first = a.lease(&app.base, project.id).await.unwrap();
    assert_eq!(first.item, items[0], "batch order");
    let item = &first.json["item"];
    assert_eq!(item["prompt"], "Prompt number 0: how do I do thing 0?");
    assert_eq!(
        item["responses"],
        json!([{"position": 0, "text": "First answer to 0."}, {"position": 1, "text": "Second answer to 0."}])
    );
    assert_eq!(item["severe"], false);
    assert!(first.json["expires_at"].as_str().unwrap().ends_with('Z'));

    // Coming back (a page refresh) gives the same lease, with its time renewed.
    let before: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at)::float8 from assignments where id = $1",
    )
    .bind(first.assignment)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let again = a.lease(&app.base, project.id).await.unwrap();
    assert_eq!(
        (again.assignment, again.item),
        (first.assignment, first.item)
    );
    let after: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at)::float8 from assignments where id = $1",
    )
    .bind(first.assignment)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(after >= before);
    assert_eq!(
        scalar(
            &app.pool,
            "select count(*) from assignments where annotator_id = $1",
            a.id
        )
        .await,
        1
    );

    a.submit_ok(&app.base, first.assignment, &labels()).await;
    let second = a.lease(&app.base, project.id).await.unwrap();
    assert_eq!(second.item, items[1]);
    a.submit_ok(&app.base, second.assignment, &labels()).await;
    assert!(
        a.lease(&app.base, project.id).await.is_none(),
        "204 when nothing is left"
    );
    let stored: (f64, i32) =
        sqlx::query_as("select seconds_spent, revisions from annotations where assignment_id = $1")
            .bind(second.assignment)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, (12.5, 0));
}

#[tokio::test]
async fn the_queue_finishes_what_is_started_then_follows_batch_order() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 2, 2, 5).await;
    import_batch(&app.pool, &project, 100, 1).await;
    let items = item_ids(&app.pool, project.id).await;
    let mut people = Vec::new();
    for _ in 0..6 {
        people.push(annotator(&app.pool).await);
    }
    let lease = |n: usize| {
        let me = people[n].clone();
        let base = app.base.clone();
        async move { me.lease(&base, project.id).await.expect("an item") }
    };
    // k = 2: two leases fill the first item, the third goes to the second.
    let x = lease(0).await;
    assert_eq!(x.item, items[0]);
    assert_eq!(lease(1).await.item, items[0]);
    let y = lease(2).await;
    assert_eq!(y.item, items[1]);
    people[2]
        .submit_ok(&app.base, y.assignment, &labels())
        .await;
    assert_eq!(
        people[0]
            .skip(&app.base, x.assignment, json!({"reason": "unclear"}))
            .await
            .status(),
        204
    );
    // Both have a free slot now; the one with a submission comes first.
    assert_eq!(lease(3).await.item, items[1], "closest to k first");
    assert_eq!(lease(4).await.item, items[0], "then batch order");
    assert_eq!(
        lease(5).await.item,
        items[2],
        "the second batch once the first is taken"
    );
}

/// An annotator far ahead of the others has labelled every started item
/// the lease looks at (the first 100, `db::assignments::lease`): each of
/// their leases is the next new item, and the others still get the
/// started items first.
#[tokio::test]
async fn an_annotator_far_ahead_gets_new_items_while_the_others_finish_theirs() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 130, 2, 5).await;
    let items = item_ids(&app.pool, project.id).await;
    let (ahead, behind) = (annotator(&app.pool).await, annotator(&app.pool).await);
    for (n, item) in items.iter().take(110).enumerate() {
        let lease = ahead.lease(&app.base, project.id).await.expect("an item");
        assert_eq!(lease.item, *item, "lease {n}: the next new item");
        ahead
            .submit_ok(&app.base, lease.assignment, &labels())
            .await;
    }
    let started = behind.lease(&app.base, project.id).await.expect("an item");
    assert_eq!(started.item, items[0], "the first started item first");
    behind
        .submit_ok(&app.base, started.assignment, &labels())
        .await;
    assert_eq!(
        behind.lease(&app.base, project.id).await.unwrap().item,
        items[1]
    );
    assert_eq!(
        ahead.lease(&app.base, project.id).await.unwrap().item,
        items[110]
    );
}

/// A queue table that outgrows the statistics of its near-empty start is
/// analyzed by the server within seconds
/// (`queue::keep_statistics_periodically`), not a minute later by
/// autovacuum: plans kept from when it was nearly empty would read far too
/// much. Only that once.
#[tokio::test]
async fn the_server_analyzes_a_queue_table_once_it_outgrows_its_first_statistics() {
    let app = TestApp::spawn().await;
    let analyzed = || async {
        let yes: bool = sqlx::query_scalar(
            "select last_analyze is not null from pg_stat_user_tables where relname = 'items'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        yes
    };
    assert!(!analyzed().await, "a new database: never analyzed");
    // What `safepref serve` runs beside the app (the test app serves
    // without its background tasks).
    let task = tokio::spawn(queue::keep_statistics_periodically(app.pool.clone()));
    project_with_items(&app.pool, 1_500, 2, 5).await;
    // The import's row counts reach the statistics views within ten
    // seconds (an idle backend's flush); the task checks every two. The
    // whole suite running beside it on two cores once took longer than 30 s.
    let deadline = Instant::now() + Duration::from_secs(90);
    while !analyzed().await {
        assert!(
            Instant::now() < deadline,
            "items (1,500 rows, statistics of none) still not analyzed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    task.abort();
    let mut conn = app.pool.acquire().await.unwrap();
    let again = safepref_server::db::statistics::analyze_grown(&mut conn, 1_000)
        .await
        .unwrap();
    assert!(!again.contains(&"items"), "{again:?}");

    // Once is enough: a table more than twice the size of its statistics is
    // autovacuum's again (each ANALYZE makes every connection replan).
    project_with_items(&app.pool, 2_000, 2, 5).await;
    let live = "select n_live_tup from pg_stat_user_tables where relname = 'items' and $1::uuid is not null";
    while scalar(&app.pool, live, Uuid::nil()).await < 3_500 {
        assert!(
            Instant::now() < deadline + Duration::from_secs(30),
            "row counts not flushed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let grown = safepref_server::db::statistics::analyze_grown(&mut conn, 1_000)
        .await
        .unwrap();
    assert!(!grown.contains(&"items"), "{grown:?}");
}

#[tokio::test]
async fn an_expired_lease_frees_its_slot() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 2, 1, 5).await;
    let items = item_ids(&app.pool, project.id).await;
    let (a, b) = (annotator(&app.pool).await, annotator(&app.pool).await);

    let first = a.lease(&app.base, project.id).await.unwrap();
    assert_eq!(first.item, items[0]);
    expire(&app.pool, first.assignment).await;
    assert_eq!(queue::release_expired(&app.pool).await.unwrap(), 1);
    assert_eq!(queue::release_expired(&app.pool).await.unwrap(), 0);
    let (state, leased): (String, i32) = sqlx::query_as(
        "select a.state::text, i.leased from assignments a join items i on i.id = a.item_id where a.id = $1",
    )
    .bind(first.assignment)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), leased), ("expired", 0));
    // The freed item is first in the queue again.
    let taken = b.lease(&app.base, project.id).await.unwrap();
    assert_eq!(taken.item, items[0]);
    assert_eq!(a.lease(&app.base, project.id).await.unwrap().item, items[1]);

    // Without the sweep: a lease that finds nothing releases expired leases itself.
    let other = project_with_items(&app.pool, 1, 1, 5).await;
    let held = a.lease(&app.base, other.id).await.unwrap();
    assert!(
        b.lease(&app.base, other.id).await.is_none(),
        "k = 1 and held"
    );
    expire(&app.pool, held.assignment).await;
    let now = b
        .lease(&app.base, other.id)
        .await
        .expect("the expired slot");
    assert_eq!(now.item, held.item);
}

#[tokio::test]
async fn a_late_submit_is_accepted_while_a_slot_is_free() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 2, 1, 5).await;
    let a = annotator(&app.pool).await;

    // Expired and swept: the slot is free, so the submit is accepted.
    let first = a.lease(&app.base, project.id).await.unwrap();
    expire(&app.pool, first.assignment).await;
    queue::release_expired(&app.pool).await.unwrap();
    a.submit_ok(&app.base, first.assignment, &labels()).await;
    let (done, leased, state): (i32, i32, String) =
        sqlx::query_as("select done, leased, state::text from items where id = $1")
            .bind(first.item)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((done, leased, state.as_str()), (1, 0, "complete"));

    // Expired but not yet swept: the lease still holds its slot.
    let second = a.lease(&app.base, project.id).await.unwrap();
    expire(&app.pool, second.assignment).await;
    a.submit_ok(&app.base, second.assignment, &labels()).await;
    assert_eq!(
        scalar(
            &app.pool,
            "select count(*) from items where project_id = $1 and state = 'complete' and leased = 0",
            project.id
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_late_submit_is_refused_when_the_slot_was_taken() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 1, 1, 5).await;
    let (a, b) = (annotator(&app.pool).await, annotator(&app.pool).await);
    let late = a.lease(&app.base, project.id).await.unwrap();
    expire(&app.pool, late.assignment).await;
    let taken = b.lease(&app.base, project.id).await.unwrap();
    assert_eq!(taken.item, late.item);

    let (status, code, message) = refused(
        a.submit(&app.base, late.assignment, Uuid::new_v4(), &labels())
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "conflict"));
    assert!(
        message.contains("time on this item ran out") && message.contains("could not be saved"),
        "{message}"
    );
    b.submit_ok(&app.base, taken.assignment, &labels()).await;
    assert_eq!(
        scalar(
            &app.pool,
            "select count(*) from annotations where item_id = $1",
            late.item
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_refused_submission_stays_refused_when_a_place_opens_later() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 1, 1, 5).await;
    let (a, b) = (annotator(&app.pool).await, annotator(&app.pool).await);
    let late = a.lease(&app.base, project.id).await.unwrap();
    expire(&app.pool, late.assignment).await;
    let taken = b.lease(&app.base, project.id).await.unwrap();
    let submission = Uuid::new_v4();
    let (status, _, _) = refused(
        a.submit(&app.base, late.assignment, submission, &labels())
            .await,
    )
    .await;
    assert_eq!(status, 409);
    // The place opens again; a retry of the same submission (a double
    // click, a second server) still answers as the first did.
    let skipped = b
        .skip(&app.base, taken.assignment, json!({"reason": "other"}))
        .await;
    assert_eq!(skipped.status(), 204);
    let (status, _, message) = refused(
        a.submit(&app.base, late.assignment, submission, &labels())
            .await,
    )
    .await;
    assert_eq!(status, 409, "{message}");
    // A new submission may take the open place.
    a.submit_ok(&app.base, late.assignment, &labels()).await;
    assert_eq!(
        scalar(
            &app.pool,
            "select count(*) from annotations where item_id = $1",
            late.item
        )
        .await,
        1
    );
}

#[tokio::test]
async fn skip_gives_the_item_to_others_and_never_back() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 2, 2, 5).await;
    let items = item_ids(&app.pool, project.id).await;
    let (a, b) = (annotator(&app.pool).await, annotator(&app.pool).await);

    let first = a.lease(&app.base, project.id).await.unwrap();
    assert_eq!(first.item, items[0]);
    let body = json!({"reason": "too_disturbing", "note": "  graphic  "});
    assert_eq!(
        a.skip(&app.base, first.assignment, body.clone())
            .await
            .status(),
        204
    );
    assert_eq!(
        a.skip(&app.base, first.assignment, body).await.status(),
        204,
        "a repeated skip is harmless"
    );
    let (reason, note, leased): (String, Option<String>, i32) = sqlx::query_as(
        "select a.skip_reason::text, a.skip_note, i.leased from assignments a join items i on i.id = a.item_id where a.id = $1",
    )
    .bind(first.assignment)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (reason.as_str(), note.as_deref(), leased),
        ("too_disturbing", Some("graphic"), 0)
    );

    let next = a.lease(&app.base, project.id).await.unwrap();
    assert_eq!(next.item, items[1], "not the skipped item");
    assert_eq!(
        b.lease(&app.base, project.id).await.unwrap().item,
        items[0],
        "the skipped item goes to others"
    );
    a.submit_ok(&app.base, next.assignment, &labels()).await;
    assert!(
        a.lease(&app.base, project.id).await.is_none(),
        "the skipped item never comes back to its skipper"
    );
    // A skipped item cannot be submitted; a submitted one cannot be skipped.
    let (status, _, message) = refused(
        a.submit(&app.base, first.assignment, Uuid::new_v4(), &labels())
            .await,
    )
    .await;
    assert_eq!(status, 409);
    assert!(message.contains("skipped"), "{message}");
    let (status, _, _) = refused(
        a.skip(&app.base, next.assignment, json!({"reason": "other"}))
            .await,
    )
    .await;
    assert_eq!(status, 409);
    let (status, code, message) = refused(
        a.skip(&app.base, next.assignment, json!({"reason": "boring"}))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    assert!(message.contains("unknown variant"), "{message}");
}

#[tokio::test]
async fn a_submit_can_bring_the_next_lease() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 3, 1, 5).await;
    let a = annotator(&app.pool).await;
    let first = a.lease(&app.base, project.id).await.unwrap();

    // A bad `next` is refused before anything is stored.
    let (status, _, message) = refused(
        a.post(
            &app.base,
            &format!("/api/v1/assignments/{}/submit?next=maybe", first.assignment),
            Some(json!({"submission_id": Uuid::new_v4(), "labels": labels()})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("next"), "{message}");
    let stored = "select count(*) from annotations where annotator_id = $1";
    assert_eq!(scalar(&app.pool, stored, a.id).await, 0);

    // The answer carries the next lease: the live one a lease call gives.
    let answer = answered(
        a.submit_then_next(&app.base, first.assignment, Uuid::new_v4(), &labels())
            .await,
    )
    .await;
    assert!(answer["annotation_id"].is_string(), "{answer}");
    let next = Leased::from(answer["next"].clone());
    assert_ne!(next.item, first.item);
    let again = a.lease(&app.base, project.id).await.unwrap();
    assert_eq!((again.assignment, again.item), (next.assignment, next.item));
    assert_eq!(again.json["item"], next.json["item"]);

    // Paused by a lead: the labels are stored, and `next` is absent (the
    // lease call says why).
    let lead = db::users::insert(
        &app.pool,
        &format!("lead-{}", Uuid::new_v4().simple()),
        "!",
        Role::Lead,
    )
    .await
    .unwrap();
    assert!(
        db::review::pause(&app.pool, project.id, a.id, lead.id)
            .await
            .unwrap()
    );
    let answer = answered(
        a.submit_then_next(&app.base, next.assignment, Uuid::new_v4(), &labels())
            .await,
    )
    .await;
    assert!(answer["annotation_id"].is_string(), "{answer}");
    assert!(answer.get("next").is_none(), "{answer}");
    assert_eq!(scalar(&app.pool, stored, a.id).await, 2);
    assert!(
        db::review::resume(&app.pool, project.id, a.id)
            .await
            .unwrap()
    );

    // The last item: after it, `next` is null, as a lease call gives 204.
    let last = a.lease(&app.base, project.id).await.unwrap();
    let answer = answered(
        a.submit_then_next(&app.base, last.assignment, Uuid::new_v4(), &labels())
            .await,
    )
    .await;
    assert_eq!(answer.get("next"), Some(&Value::Null), "{answer}");
    assert!(a.lease(&app.base, project.id).await.is_none());

    // Without `next`, the answer is as before.
    let b = annotator(&app.pool).await;
    let other = project_with_items(&app.pool, 1, 1, 5).await;
    let lease = b.lease(&app.base, other.id).await.unwrap();
    let answer = answered(
        b.submit(&app.base, lease.assignment, Uuid::new_v4(), &labels())
            .await,
    )
    .await;
    assert!(answer.get("next").is_none(), "{answer}");
}

/// A late submit (its lease expired, and the annotator has a new one since)
/// with `?next=1`: the next lease is the live one they hold, renewed, as a
/// lease call gives it, and they still hold only that one.
#[tokio::test]
async fn a_late_submit_brings_the_live_lease_the_annotator_holds() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 3, 2, 5).await;
    let items = item_ids(&app.pool, project.id).await;
    let (a, b, c) = (
        annotator(&app.pool).await,
        annotator(&app.pool).await,
        annotator(&app.pool).await,
    );
    // Item 0 is started, so it comes first; `a`'s lease on it expires, and
    // `c` takes the free place.
    let started = b.lease(&app.base, project.id).await.unwrap();
    b.submit_ok(&app.base, started.assignment, &labels()).await;
    let late = a.lease(&app.base, project.id).await.unwrap();
    assert_eq!(late.item, items[0]);
    expire(&app.pool, late.assignment).await;
    queue::release_expired(&app.pool).await.unwrap();
    let taken = c.lease(&app.base, project.id).await.unwrap();
    assert_eq!(taken.item, items[0]);
    // Item 0 is full, so `a` gets item 1; then `c` lets item 0 go.
    let live = a.lease(&app.base, project.id).await.unwrap();
    assert_eq!(live.item, items[1]);
    expire(&app.pool, taken.assignment).await;
    queue::release_expired(&app.pool).await.unwrap();

    let answer = answered(
        a.submit_then_next(&app.base, late.assignment, Uuid::new_v4(), &labels())
            .await,
    )
    .await;
    assert!(answer["annotation_id"].is_string(), "{answer}");
    let next = Leased::from(answer["next"].clone());
    assert_eq!((next.assignment, next.item), (live.assignment, live.item));
    let live_leases =
        "select count(*) from assignments where annotator_id = $1 and state = 'leased'";
    assert_eq!(scalar(&app.pool, live_leases, a.id).await, 1);
}

/// Where the server decides something before a lease (a gold rate, a daily
/// cap), the next lease is taken with a call of its own after the submit
/// (`queue::submit_then_lease`): the answer carries it all the same, and
/// the cap holds.
#[tokio::test]
async fn a_submit_brings_the_next_lease_in_gold_and_capped_projects() {
    use safepref_server::db::projects::Wellbeing;
    let app = TestApp::spawn().await;
    let gold = Settings {
        annotations_per_item: 1,
        gold_rate: 0.2,
        ..Settings::default()
    };
    let gold = crate::gold::gold_project(&app, gold, 6, 6).await;
    let a = annotator(&app.pool).await;
    let mut lease = a.lease(&app.base, gold.id).await.unwrap();
    for _ in 0..5 {
        let answer = answered(
            a.submit_then_next(&app.base, lease.assignment, Uuid::new_v4(), &labels())
                .await,
        )
        .await;
        let next = Leased::from(answer["next"].clone());
        assert_ne!(next.item, lease.item);
        lease = next;
    }

    let capped = Settings {
        annotations_per_item: 1,
        wellbeing: Wellbeing {
            daily_cap: Some(2),
            ..Wellbeing::default()
        },
        ..Settings::default()
    };
    let capped = crate::gold::gold_project(&app, capped, 4, 0).await;
    let first = a.lease(&app.base, capped.id).await.unwrap();
    let answer = answered(
        a.submit_then_next(&app.base, first.assignment, Uuid::new_v4(), &labels())
            .await,
    )
    .await;
    let second = Leased::from(answer["next"].clone());
    let answer = answered(
        a.submit_then_next(&app.base, second.assignment, Uuid::new_v4(), &labels())
            .await,
    )
    .await;
    assert!(answer["annotation_id"].is_string(), "{answer}");
    assert!(answer.get("next").is_none(), "past the cap: {answer}");
}

#[tokio::test]
async fn a_double_submit_stores_one_annotation() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 1, 3, 5).await;
    let a = annotator(&app.pool).await;
    let lease = a.lease(&app.base, project.id).await.unwrap();
    let submission = Uuid::new_v4();
    let first = annotation_id(
        a.submit(&app.base, lease.assignment, submission, &labels())
            .await,
    )
    .await;
    let second = annotation_id(
        a.submit(&app.base, lease.assignment, submission, &labels())
            .await,
    )
    .await;
    assert_eq!(first, second);
    let (status, _, message) = refused(
        a.submit(&app.base, lease.assignment, Uuid::new_v4(), &labels())
            .await,
    )
    .await;
    assert_eq!(status, 409, "another submission for the same item");
    assert!(message.contains("already submitted"), "{message}");
    assert_eq!(
        scalar(
            &app.pool,
            "select count(*) from annotations where item_id = $1",
            lease.item
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &app.pool,
            "select done::int8 from items where id = $1",
            lease.item
        )
        .await,
        1
    );
}

#[tokio::test]
async fn invalid_labels_are_refused_naming_the_rule() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 1, 3, 5).await;
    let a = annotator(&app.pool).await;
    let lease = a.lease(&app.base, project.id).await.unwrap();

    let mut broken = labels();
    broken["responses"][0]["severity"] = json!(0);
    broken["harmlessness"] = json!([0, 1]);
    let (status, code, message) = refused(
        a.submit(&app.base, lease.assignment, Uuid::new_v4(), &broken)
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    assert!(
        message.contains("responses[0].severity: severity is 0 but safe is false"),
        "{message}"
    );
    assert!(
        message.contains("harmlessness: response 1 is the only safe response"),
        "every broken rule is named: {message}"
    );

    let mut unknown = labels();
    unknown["helpfullness"] = json!([0, 1]);
    let (status, _, message) = refused(
        a.submit(&app.base, lease.assignment, Uuid::new_v4(), &unknown)
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        message.contains("unknown field `helpfullness`"),
        "{message}"
    );

    let (status, _, message) = refused(
        a.post(
            &app.base,
            &format!("/api/v1/assignments/{}/submit", lease.assignment),
            Some(json!({"labels": labels()})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("submission_id"), "{message}");

    assert_eq!(
        scalar(
            &app.pool,
            "select count(*) from annotations where item_id = $1",
            lease.item
        )
        .await,
        0
    );
    // The lease is untouched: fixing the labels is enough.
    a.submit_ok(&app.base, lease.assignment, &labels()).await;
}

#[tokio::test]
async fn someone_elses_assignment_is_not_found() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 1, 3, 5).await;
    let (a, b) = (annotator(&app.pool).await, annotator(&app.pool).await);
    let lease = a.lease(&app.base, project.id).await.unwrap();
    for assignment in [lease.assignment, Uuid::new_v4()] {
        let (status, code, _) = refused(
            b.submit(&app.base, assignment, Uuid::new_v4(), &labels())
                .await,
        )
        .await;
        assert_eq!((status, code.as_str()), (404, "not_found"));
        let (status, _, _) = refused(
            b.skip(&app.base, assignment, json!({"reason": "unclear"}))
                .await,
        )
        .await;
        assert_eq!(status, 404);
    }
    let (status, _, _) = refused(
        b.post(
            &app.base,
            &format!("/api/v1/projects/{}/lease", Uuid::new_v4()),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 404, "no such project");
    // A's lease is untouched.
    a.submit_ok(&app.base, lease.assignment, &labels()).await;
}

#[tokio::test]
async fn revisions_within_the_limit_until_adjudicated_are_audited() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 3, 1, 2).await;
    let (a, b) = (annotator(&app.pool).await, annotator(&app.pool).await);
    let mut annotations = Vec::new();
    for _ in 0..3 {
        let lease = a.lease(&app.base, project.id).await.unwrap();
        annotations.push(a.submit_ok(&app.base, lease.assignment, &labels()).await);
    }
    let [oldest, middle, newest] = annotations[..] else {
        unreachable!()
    };

    let recent = queue::recent(&app.pool, &project, a.id, 10).await.unwrap();
    let listed: Vec<(Uuid, bool)> = recent
        .iter()
        .map(|r| (r.annotation_id, r.revisable))
        .collect();
    assert_eq!(listed, [(newest, true), (middle, true), (oldest, false)]);
    assert!(recent[0].prompt_start.starts_with("Prompt number 2"));
    let progress = queue::progress(&app.pool, &project, a.id).await.unwrap();
    assert_eq!(
        (
            progress.done_today,
            progress.done_in_project,
            progress.project_items,
            progress.project_complete
        ),
        (3, 3, 3, 3)
    );

    let (item, before) = queue::annotation_for_revision(&app.pool, &project, a.id, newest)
        .await
        .unwrap();
    assert_eq!(before, serde_json::from_value::<Labels>(labels()).unwrap());
    assert_eq!(item.responses.len(), 2);
    let mut changed = before.clone();
    changed.helpfulness = vec![1, 0];
    queue::revise(&app.pool, &project, a.id, newest, &changed)
        .await
        .unwrap();
    let (stored, revisions): (Value, i32) =
        sqlx::query_as("select labels, revisions from annotations where id = $1")
            .bind(newest)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (stored["helpfulness"].clone(), revisions),
        (json!([1, 0]), 1)
    );
    let (actor, audit_before, audit_after): (Uuid, Value, Value) = sqlx::query_as(
        "select actor_id, before, after from audit_log where action = 'annotation revised' and subject = $1",
    )
    .bind(format!("annotation:{newest}"))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(actor, a.id);
    assert_eq!(audit_before["helpfulness"], json!([0, 1]));
    assert_eq!(audit_after["helpfulness"], json!([1, 0]));

    // Beyond the newest two: refused.
    let err = queue::revise(&app.pool, &project, a.id, oldest, &changed)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QueueError::RevisionTooOld { .. } if err.to_string().contains("Only your 2 most recent")),
        "{err:?}"
    );
    // Invalid labels: refused naming the rule.
    let mut broken = changed.clone();
    broken.responses[1].severity = 2;
    let err = queue::revise(&app.pool, &project, a.id, middle, &broken)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QueueError::BrokenRules(m) if m.0.contains("responses[1].severity")),
        "{err:?}"
    );
    // Adjudicated: refused.
    sqlx::query("update items set state = 'adjudicated' where id = (select item_id from annotations where id = $1)")
        .bind(middle)
        .execute(&app.pool)
        .await
        .unwrap();
    let err = queue::revise(&app.pool, &project, a.id, middle, &changed)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QueueError::RevisionAdjudicated if err.to_string().contains("adjudicated")),
        "{err:?}"
    );
    assert!(
        !queue::recent(&app.pool, &project, a.id, 10).await.unwrap()[1].revisable,
        "an adjudicated item is not revisable"
    );
    // Someone else's annotation: not found.
    assert!(matches!(
        queue::revise(&app.pool, &project, b.id, newest, &changed).await,
        Err(QueueError::NoSuchAnnotation)
    ));
    assert!(matches!(
        queue::annotation_for_revision(&app.pool, &project, b.id, newest).await,
        Err(QueueError::NoSuchAnnotation)
    ));
    assert_eq!(
        scalar(
            &app.pool,
            "select count(*) from audit_log where action = 'annotation revised' and actor_id = $1",
            a.id
        )
        .await,
        1
    );
}

#[tokio::test]
async fn signing_out_gives_back_the_items_held() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 1, 1, 5).await;
    let (a, b) = (annotator(&app.pool).await, annotator(&app.pool).await);
    let lease = a.lease(&app.base, project.id).await.unwrap();
    assert!(b.lease(&app.base, project.id).await.is_none());
    let response = a
        .client
        .delete(app.url("/api/v1/session"))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        b.lease(&app.base, project.id).await.unwrap().item,
        lease.item
    );
}

#[tokio::test]
async fn the_settings_form_saves_revisable_recent() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let project = project_with_items(&app.pool, 1, 3, 5).await;
    let path = format!("/admin/projects/{}", project.id);
    let page = admin
        .get(&format!("{path}/edit"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("name=\"revisable_recent\"") && page.contains("value=\"5\""),
        "the form shows the setting"
    );
    let form = |value: &'static str| {
        vec![
            ("name", project.name.clone()),
            ("responses_per_item", "2".to_string()),
            ("annotations_per_item", "3".to_string()),
            ("lease_minutes", "10".to_string()),
            ("revisable_recent", value.to_string()),
            ("q_safety", "on".to_string()),
            ("q_helpfulness", "on".to_string()),
            ("q_harmlessness", "on".to_string()),
            ("taxonomy", "pku19".to_string()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let admin = &admin;
        let path = path.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            admin.post(&path, &fields).await
        }
    };
    assert_eq!(post(form("7")).await.status(), 303);
    let saved = projects::find(&app.pool, project.id).await.unwrap();
    assert_eq!(saved.revisable_recent, 7);
    let response = post(form("51")).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("0 to 50, not 51"));
    assert_eq!(
        projects::find(&app.pool, project.id)
            .await
            .unwrap()
            .revisable_recent,
        7
    );
}

#[test]
fn skip_reasons_are_snake_case() {
    let names: HashSet<String> = queue::SkipReason::ALL
        .iter()
        .map(|r| {
            serde_json::to_value(r)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let expected: HashSet<String> = ["unclear", "wrong_language", "too_disturbing", "other"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, expected);
    for reason in queue::SkipReason::ALL {
        assert_eq!(
            serde_json::to_value(reason).unwrap(),
            json!(reason.as_str())
        );
    }
}

#[tokio::test]
async fn severe_source_labels_are_flagged_for_the_content_note() {
    let app = TestApp::spawn().await;
    let (project, _) = crate::import::project_with_sample(&app.pool).await;
    let severe: HashMap<String, bool> = crate::import::sample_rows()
        .into_iter()
        .map(|row| {
            let level = |n: usize| row[&format!("response_{n}_severity_level")].as_i64();
            let prompt = row["prompt"].as_str().unwrap().to_string();
            (prompt, level(0) == Some(3) || level(1) == Some(3))
        })
        .collect();
    let a = annotator(&app.pool).await;
    let mut seen = 0;
    let mut flagged = 0;
    while let Some(lease) = a.lease(&app.base, project.id).await {
        let item = &lease.json["item"];
        let expected = severe[item["prompt"].as_str().unwrap()];
        assert_eq!(item["severe"], json!(expected), "{item}");
        flagged += usize::from(expected);
        seen += 1;
        let skipped = a
            .skip(&app.base, lease.assignment, json!({"reason": "other"}))
            .await;
        assert_eq!(skipped.status(), 204);
    }
    assert_eq!(seen, severe.len());
    assert!(flagged > 0, "the sample has severe items");
}
