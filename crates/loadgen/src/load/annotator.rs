//! One simulated annotator: lease, think, then submit (now and then twice;
//! the answer brings the next lease unless told to lease separately),
//! skip, or abandon the lease (sign out and back in), until the run ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;
use tokio::time::Instant;
use uuid::Uuid;

use super::client::{Client, Failure};
use super::labels::{LabelShape, random_labels};
use super::tally::{Endpoint, Tally};

/// What every annotator shares.
pub struct Plan {
    pub project: Uuid,
    pub shape: LabelShape,
    pub deadline: Instant,
    /// Set when the run should end early (the project is complete).
    pub stop: AtomicBool,
    pub until_complete: bool,
    pub lease_separately: bool,
    pub think: Duration,
    pub skip_rate: f64,
    pub double_submit_rate: f64,
    pub abandon_rate: f64,
}

impl Plan {
    fn over(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }
}

/// Consecutive calls without an answer after which an annotator gives up
/// (its server is gone; its lease is left to expire).
const GIVE_UP_AFTER: u32 = 3;
/// The pause after a call without an answer, or a 204.
const PAUSE: Duration = Duration::from_millis(100);
const SKIP_REASONS: [&str; 4] = ["unclear", "wrong_language", "too_disturbing", "other"];

pub struct Annotator {
    pub client: Client,
    pub username: String,
    pub password: String,
    pub rng: StdRng,
    pub tally: Tally,
    silent_calls: u32,
    /// The lease the last submit's answer brought (`?next=1`).
    carried: Option<(Uuid, usize)>,
}

impl Annotator {
    pub fn new(client: Client, username: String, password: String, rng: StdRng) -> Self {
        Annotator {
            client,
            username,
            password,
            rng,
            tally: Tally::default(),
            silent_calls: 0,
            carried: None,
        }
    }

    pub async fn sign_in(&mut self) -> Result<(), Failure> {
        self.client
            .sign_in(&mut self.tally, &self.username, &self.password)
            .await
    }

    /// Works until the plan says stop; returns what it measured.
    pub async fn work(mut self, plan: Arc<Plan>) -> Tally {
        while !plan.over() {
            if let Err(failure) = self.one_item(&plan).await
                && self.failed(failure).await
            {
                self.tally.lost_annotators += 1;
                break;
            }
        }
        self.tally
    }

    /// Counts a failure; true when the annotator gives up.
    async fn failed(&mut self, (endpoint, failure): (Endpoint, Failure)) -> bool {
        self.tally.error(failure.kind(endpoint));
        if matches!(failure, Failure::Transport(_)) {
            self.silent_calls += 1;
            if self.silent_calls >= GIVE_UP_AFTER {
                return true;
            }
            tokio::time::sleep(PAUSE).await;
        }
        false
    }

    async fn one_item(&mut self, plan: &Plan) -> Result<(), (Endpoint, Failure)> {
        let leased = match self.carried.take() {
            Some(lease) => Ok(Some(lease)),
            None => self.client.lease(&mut self.tally, plan.project).await,
        };
        let Some((assignment, responses)) = leased.map_err(|f| (Endpoint::Lease, f))? else {
            self.silent_calls = 0;
            return self.nothing_left(plan).await;
        };
        self.silent_calls = 0;
        self.think(plan).await;
        let roll: f64 = self.rng.random();
        if roll < plan.skip_rate {
            let reason = SKIP_REASONS[self.rng.random_range(0..SKIP_REASONS.len())];
            self.client
                .skip(&mut self.tally, assignment, reason)
                .await
                .map_err(|f| (Endpoint::Skip, f))?;
            self.tally.skips += 1;
            Ok(())
        } else if roll < plan.skip_rate + plan.abandon_rate {
            self.abandon().await
        } else {
            self.submit(plan, assignment, responses).await
        }
    }

    async fn think(&mut self, plan: &Plan) {
        if !plan.think.is_zero() {
            let factor = self.rng.random_range(0.5..1.5);
            tokio::time::sleep(plan.think.mul_f64(factor)).await;
        }
    }

    /// A 204: when asked to, ends the run once the project is complete;
    /// otherwise waits a little (leases elsewhere may expire or be skipped).
    async fn nothing_left(&mut self, plan: &Plan) -> Result<(), (Endpoint, Failure)> {
        self.tally.empty_leases += 1;
        if plan.until_complete {
            let project = self
                .client
                .project(&mut self.tally, plan.project)
                .await
                .map_err(|f| (Endpoint::Project, f))?;
            let progress = &project["progress"];
            if progress["items"].as_i64().is_some()
                && progress["complete"].as_i64() >= progress["items"].as_i64()
            {
                plan.stop.store(true, Ordering::Relaxed);
                return Ok(());
            }
        }
        tokio::time::sleep(PAUSE.max(plan.think)).await;
        Ok(())
    }

    /// Walks away from the lease: signs out (which gives the lease back)
    /// and signs in again, as someone closing the tab and returning later.
    async fn abandon(&mut self) -> Result<(), (Endpoint, Failure)> {
        self.tally.abandoned += 1;
        let tally = &mut self.tally;
        self.client
            .sign_out(tally)
            .await
            .map_err(|f| (Endpoint::SignOut, f))?;
        self.client
            .sign_in(tally, &self.username, &self.password)
            .await
            .map_err(|f| (Endpoint::SignIn, f))
    }

    async fn submit(
        &mut self,
        plan: &Plan,
        assignment: Uuid,
        responses: usize,
    ) -> Result<(), (Endpoint, Failure)> {
        let labels = random_labels(&mut self.rng, &plan.shape, responses);
        let body = json!({
            "submission_id": Uuid::now_v7(),
            "labels": labels,
            "seconds_spent": plan.think.as_secs_f64(),
        });
        let next = !plan.lease_separately;
        let (id, carried) = self
            .client
            .submit(&mut self.tally, Endpoint::Submit, assignment, &body, next)
            .await
            .map_err(|f| (Endpoint::Submit, f))?;
        self.carried = carried;
        self.tally.acknowledged.push(id);
        if Instant::now() <= plan.deadline {
            self.tally.completed += 1;
        }
        if self.rng.random_bool(plan.double_submit_rate) {
            self.tally.double_submits += 1;
            // The same request again: its answer's next lease is the live
            // one the first answer brought.
            let (again, carried) = self
                .client
                .submit(&mut self.tally, Endpoint::Resubmit, assignment, &body, next)
                .await
                .map_err(|f| (Endpoint::Resubmit, f))?;
            self.carried = carried;
            if again != id {
                let kind = format!("{}: a different annotation id", Endpoint::Resubmit.name());
                self.tally.error(kind);
            }
        }
        Ok(())
    }
}
