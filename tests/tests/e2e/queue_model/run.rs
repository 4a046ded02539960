//! Runs a schedule on the real queue and checks every answer against the
//! model: never above k, never one annotator twice on an item, no
//! submission lost or doubled, a 204 only when the model says nothing is
//! left for that annotator, and at the end every item complete when
//! nothing keeps annotators from it.

use std::collections::{BTreeSet, HashMap, HashSet};

use safepref_tests::TestDb;
use uuid::Uuid;

use super::model::{Assignment, Item, ItemState, LeaseExpect, Model, SubmitExpect};
use super::schedule::{Schedule, Step};
use super::world::{Leased, Submitted, World};

/// An assignment as the database has it, with its annotation if any.
#[derive(Debug, sqlx::FromRow)]
struct AssignmentRow {
    item_id: Uuid,
    annotator_id: Uuid,
    id: Uuid,
    state: String,
    annotation: Option<Uuid>,
    valid: Option<bool>,
}

/// Where and why a schedule failed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub step: usize,
    pub message: String,
}

struct Run {
    world: World,
    model: Model,
    /// The lease each annotator's client holds: (item, assignment).
    held: Vec<Option<(usize, Uuid)>>,
    /// (annotator, annotation) in the order they were stored.
    order: Vec<(usize, Uuid)>,
}

/// Runs the schedule; Err names the first step whose answer the model did
/// not allow, or the state that differs.
pub async fn run(schedule: &Schedule, db: &TestDb) -> Result<(), Failure> {
    let setup = &schedule.setup;
    let world = World::new(setup, db).await;
    let suggested: HashSet<usize> = setup.routing.iter().flatten().copied().collect();
    let items = (0..setup.items + setup.gold_items)
        .map(|n| Item {
            gold: n >= setup.items,
            suggested: suggested.contains(&n),
            extra: 0,
            state: ItemState::Pending,
            routed: false,
        })
        .collect();
    let mut model = Model::new(setup.k, items, setup.annotators);
    model.gold_mixed = setup.gold_rate > 0.0;
    model.routing = setup.routing.is_some();
    model.cap = setup.daily_cap.map(i64::from);
    model.quota = setup.crowd_quota.map(i64::from);
    let mut run = Run {
        world,
        model,
        held: vec![None; setup.annotators],
        order: Vec::new(),
    };
    // The whole state after every step of a small schedule; in a large
    // one every few steps (each answer is still checked as it comes).
    let check_every = if run.model.items.len() <= 20 { 1 } else { 10 };
    for (n, step) in schedule.steps.iter().enumerate() {
        let fail = |message: String| Failure { step: n, message };
        run.step(step).await.map_err(fail)?;
        if n % check_every == 0 || matches!(step, Step::Drain(_)) {
            run.compare().await.map_err(fail)?;
        }
    }
    let last = schedule.steps.len();
    run.compare().await.map_err(|message| Failure {
        step: last,
        message,
    })?;
    if schedule.should_complete_all() && run.model.paused.is_empty() {
        let open: Vec<usize> = (0..run.model.items.len())
            .filter(|&i| run.model.items[i].state == ItemState::Pending)
            .collect();
        if !open.is_empty() {
            return Err(Failure {
                step: last,
                message: format!(
                    "the annotators kept working, yet items {open:?} are not complete (stuck by the model: {:?})",
                    run.model.stuck(setup.annotators)
                ),
            });
        }
    }
    Ok(())
}

impl Run {
    async fn step(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Lease(who) => self.lease(*who).await.map(|_| ()),
            Step::Submit { who, agree, next } => self.submit(*who, *agree, *next).await,
            Step::SubmitTwice(who) => self.submit_twice(*who).await,
            Step::Skip(who, reason) => {
                let Some((item, assignment)) = self.held[*who] else {
                    return Ok(());
                };
                let skipped = self.world.skip(*who, assignment, *reason).await?;
                let allowed = self.model.skip(item, *who);
                if skipped != allowed {
                    return Err(format!(
                        "a skip of item {item} by annotator {who}: skipped {skipped}, the model says {allowed}"
                    ));
                }
                self.held[*who] = None;
                Ok(())
            }
            Step::Abandon(who) => {
                self.world.sign_out(*who).await;
                self.model.release_all(*who);
                Ok(())
            }
            Step::Expire(who) => {
                let Some((item, assignment)) = self.held[*who] else {
                    return Ok(());
                };
                self.world.expire(assignment).await;
                self.model.expire(item, *who);
                // The servers sweep on their own clock: sweep now, so that
                // the model knows when it happened.
                if self.world.through_http() {
                    self.sweep().await;
                }
                Ok(())
            }
            Step::Sweep => {
                self.sweep().await;
                Ok(())
            }
            Step::Revise(who) => self.revise(*who).await,
            Step::Pause(who) => {
                self.world.set_paused(*who, true).await;
                self.model.paused.insert(*who);
                Ok(())
            }
            Step::Resume(who) => {
                self.world.set_paused(*who, false).await;
                self.model.paused.remove(who);
                Ok(())
            }
            Step::Requeue(who) => {
                let requeued = self.world.requeue(*who).await?;
                let allowed = self.model.requeue(*who);
                if requeued != allowed {
                    return Err(format!(
                        "a requeue of annotator {who}'s work: done {requeued}, the model says {allowed}"
                    ));
                }
                Ok(())
            }
            Step::SendBack(item) => {
                let item = *item % self.model.items.len();
                self.world.send_back(item).await?;
                self.model.send_back(item);
                Ok(())
            }
            Step::Drain(group) => self.drain(group).await,
        }
    }

    async fn sweep(&mut self) {
        self.world.sweep().await;
        self.model.sweep();
    }

    /// A lease, checked against the model; the item leased, if any.
    async fn lease(&mut self, who: usize) -> Result<Option<usize>, String> {
        let draw = self.world.gold_draw(who, self.model.made[who]);
        let expect = self.model.expect_lease(who, draw);
        let got = self.world.lease(who).await?;
        let ok = match (&expect, &got) {
            (LeaseExpect::Completed, Leased::Completed)
            | (LeaseExpect::Capped, Leased::Capped)
            | (LeaseExpect::Paused, Leased::Paused)
            | (LeaseExpect::Nothing, Leased::Nothing) => true,
            (LeaseExpect::Renewed(want), Leased::Item { item, assignment }) => {
                want == item && self.held[who].is_none_or(|(_, a)| a == *assignment)
            }
            (LeaseExpect::OneOf(set), Leased::Item { item, .. }) => set.contains(item),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "annotator {who} leased and got {got:?}; the model allows {expect:?}"
            ));
        }
        if let Leased::Item { item, assignment } = got {
            self.model.apply_lease(who, item, assignment)?;
            self.held[who] = Some((item, assignment));
            return Ok(Some(item));
        }
        Ok(None)
    }

    async fn submit(&mut self, who: usize, agree: bool, next: bool) -> Result<(), String> {
        let Some((item, assignment)) = self.held[who] else {
            return Ok(());
        };
        let submission = Uuid::new_v4();
        let expect = self.model.expect_submit(item, who, submission);
        let got = self
            .world
            .submit(who, assignment, submission, agree, next)
            .await?;
        self.settle(item, who, submission, agree, &expect, &got)?;
        if let Submitted::Stored {
            next: Some((next_item, next_assignment)),
            ..
        } = got
        {
            let allowed = self.next_allowed(who, next_item);
            if !allowed.contains(&next_item) {
                return Err(format!(
                    "the submit brought annotator {who} item {next_item}; the model allows {allowed:?}"
                ));
            }
            self.model.apply_lease(who, next_item, next_assignment)?;
            self.held[who] = Some((next_item, next_assignment));
        }
        Ok(())
    }

    /// The items a submit's next lease may be. The functions take it in the
    /// submit's transaction (no gold draw, no sweep, not when paused); the
    /// API, when that gave nothing or the project leases with a call of
    /// its own (a gold rate, a daily cap), makes a lease call.
    fn next_allowed(&mut self, who: usize, item: usize) -> BTreeSet<usize> {
        if self.model.paused.contains(&who) {
            return BTreeSet::new();
        }
        let embedded = self.model.next_lease_options(who);
        if !self.world.through_http() || embedded.contains(&item) {
            return embedded;
        }
        let draw = self.world.gold_draw(who, self.model.made[who]);
        match self.model.expect_lease(who, draw) {
            LeaseExpect::OneOf(set) => set,
            LeaseExpect::Renewed(held) => BTreeSet::from([held]),
            _ => BTreeSet::new(),
        }
    }

    /// Checks a submit's answer and applies it to the model.
    fn settle(
        &mut self,
        item: usize,
        who: usize,
        submission: Uuid,
        agree: bool,
        expect: &SubmitExpect,
        got: &Submitted,
    ) -> Result<(), String> {
        let known: HashSet<Uuid> = self.order.iter().map(|(_, a)| *a).collect();
        let stored = match (expect, got) {
            (SubmitExpect::Stored, Submitted::Stored { annotation, .. })
                if !known.contains(annotation) =>
            {
                Some(*annotation)
            }
            (SubmitExpect::Same(want), Submitted::Stored { annotation, .. })
                if want == annotation =>
            {
                None
            }
            (SubmitExpect::Refused, Submitted::Refused) => None,
            _ => {
                return Err(format!(
                    "annotator {who} submitted item {item} and got {got:?}; the model expects {expect:?}"
                ));
            }
        };
        if !matches!(expect, SubmitExpect::Same(_)) {
            self.model
                .apply_submit(item, who, submission, stored, agree);
        }
        if let Some(annotation) = stored {
            self.order.push((who, annotation));
        }
        self.held[who] = None;
        Ok(())
    }

    async fn submit_twice(&mut self, who: usize) -> Result<(), String> {
        let Some((item, assignment)) = self.held[who] else {
            return Ok(());
        };
        let answers = self.world.submit_twice(who, assignment, true).await?;
        let expect = self.model.expect_submit(item, who, Uuid::nil());
        match (&expect, &answers) {
            (
                SubmitExpect::Stored,
                [
                    Submitted::Stored { annotation: a, .. },
                    Submitted::Stored { annotation: b, .. },
                ],
            ) if a == b => {
                let submission = self.submission_of(*a).await;
                self.settle(item, who, submission, true, &expect, &answers[0])
            }
            (SubmitExpect::Refused, [Submitted::Refused, Submitted::Refused])
            | (SubmitExpect::Same(_), [Submitted::Refused, Submitted::Refused]) => {
                let any = Uuid::new_v4();
                self.model.apply_submit(item, who, any, None, true);
                // The refused submission id is the one sent; the model's
                // copy need only be "some refused id", never matched again.
                self.held[who] = None;
                Ok(())
            }
            _ => Err(format!(
                "annotator {who} sent one submission of item {item} twice and got {answers:?}; the model expects {expect:?}"
            )),
        }
    }

    async fn submission_of(&self, annotation: Uuid) -> Uuid {
        sqlx::query_scalar("select submission_id from annotations where id = $1")
            .bind(annotation)
            .fetch_one(&self.world.pool)
            .await
            .unwrap()
    }

    async fn revise(&mut self, who: usize) -> Result<(), String> {
        let Some((annotation, valid)) = self.model.newest_annotation(who, &self.order) else {
            return Ok(());
        };
        let revised = self.world.revise(who, annotation).await?;
        if revised != valid {
            return Err(format!(
                "annotator {who} revised their newest annotation: {revised}; the model says {valid}"
            ));
        }
        Ok(())
    }

    /// The group leases and submits in turn until a whole round gives no
    /// one an item.
    async fn drain(&mut self, group: &[usize]) -> Result<(), String> {
        let bound = (self.model.items.len() + 2) * (self.model.k as usize + 4) * group.len() + 10;
        for round in 0..bound {
            let mut worked = false;
            for &who in group {
                if self.held[who].is_none() || round % 3 == 0 {
                    self.lease(who).await?;
                }
                if self.held[who].is_some() {
                    self.submit(who, round % 4 != 3, round % 2 == 0).await?;
                    worked = true;
                }
            }
            if !worked {
                return Ok(());
            }
        }
        Err(format!(
            "the group {group:?} still got items after {bound} rounds"
        ))
    }

    /// The database's items, assignments and annotations against the model.
    async fn compare(&self) -> Result<(), String> {
        self.compare_items().await?;
        self.compare_assignments().await?;
        let annotations: i64 =
            sqlx::query_scalar("select count(*) from annotations where project_id = $1")
                .bind(self.world.project.id)
                .fetch_one(&self.world.pool)
                .await
                .unwrap();
        if annotations != self.order.len() as i64 {
            return Err(format!(
                "{annotations} annotations stored, {} acknowledged",
                self.order.len()
            ));
        }
        Ok(())
    }

    /// Each item's counters and state; never above its wanted number.
    async fn compare_items(&self) -> Result<(), String> {
        let items: Vec<(Uuid, i32, i32, String, i32, bool)> = sqlx::query_as(
            "select id, done, leased, state::text, extra_annotations, routed from items where project_id = $1",
        )
        .bind(self.world.project.id)
        .fetch_all(&self.world.pool)
        .await
        .unwrap();
        for (id, done, leased, state, extra, routed) in items {
            let n = self.world.item_index(id);
            let m = &self.model.items[n];
            let want = (
                self.model.done(n),
                self.model.leased(n),
                m.state.as_str(),
                m.extra,
                m.routed,
            );
            if (done, leased, state.as_str(), extra, routed) != want {
                return Err(format!(
                    "item {n}: the database has (done, leased, state, extra, routed) = {:?}, the model {want:?}",
                    (done, leased, state, extra, routed)
                ));
            }
            if !(m.gold && self.model.gold_mixed) && done + leased > self.model.wanted(n) {
                return Err(format!(
                    "item {n}: done {done} + leased {leased} is above its wanted number"
                ));
            }
        }
        Ok(())
    }

    /// Every assignment's id and state, with its annotation and whether
    /// that is valid: one per item and annotator, none lost or doubled.
    async fn compare_assignments(&self) -> Result<(), String> {
        let people: HashMap<Uuid, usize> = self
            .world
            .people
            .iter()
            .enumerate()
            .map(|(n, u)| (u.id, n))
            .collect();
        let rows: Vec<AssignmentRow> = sqlx::query_as(
            "select a.item_id, a.annotator_id, a.id, a.state::text as state, an.id as annotation,
                    an.invalidated_at is null as valid
               from assignments a left join annotations an on an.assignment_id = a.id
              where a.project_id = $1",
        )
        .bind(self.world.project.id)
        .fetch_all(&self.world.pool)
        .await
        .unwrap();
        if rows.len() != self.model.assignments.len() {
            return Err(format!(
                "the database has {} assignments, the model {}",
                rows.len(),
                self.model.assignments.len()
            ));
        }
        for row in rows {
            let key = (
                self.world.item_index(row.item_id),
                people[&row.annotator_id],
            );
            let Some(m) = self.model.assignments.get(&key) else {
                return Err(format!("an assignment the model lacks: {key:?}"));
            };
            let same = m.id() == row.id
                && m.state() == row.state
                && match m {
                    Assignment::Submitted {
                        annotation: a,
                        valid: v,
                        ..
                    } => row.annotation == Some(*a) && row.valid == Some(*v),
                    _ => row.annotation.is_none(),
                };
            if !same {
                return Err(format!(
                    "assignment {key:?}: the database has {row:?}, the model {m:?}"
                ));
            }
        }
        Ok(())
    }
}
