//! A plain in-memory model of the task queue: what each action may answer
//! and what it changes. It knows nothing of SQL, locks or windows; it
//! follows the rules as the documentation states them, so the real queue
//! is checked against the rules, not against itself.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    Pending,
    Complete,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::Complete => "complete",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    pub gold: bool,
    /// The routing source suggested labels for it.
    pub suggested: bool,
    pub extra: i32,
    pub state: ItemState,
    pub routed: bool,
}

/// One annotator's assignment on one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    Leased {
        id: Uuid,
        /// Past its time, not yet swept: it still holds its slot.
        overdue: bool,
    },
    Submitted {
        id: Uuid,
        annotation: Uuid,
        submission: Uuid,
        valid: bool,
    },
    Skipped {
        id: Uuid,
    },
    Expired {
        id: Uuid,
        refused: Option<Uuid>,
    },
}

impl Assignment {
    pub fn id(&self) -> Uuid {
        match self {
            Assignment::Leased { id, .. }
            | Assignment::Submitted { id, .. }
            | Assignment::Skipped { id }
            | Assignment::Expired { id, .. } => *id,
        }
    }

    pub fn state(&self) -> &'static str {
        match self {
            Assignment::Leased { .. } => "leased",
            Assignment::Submitted { .. } => "submitted",
            Assignment::Skipped { .. } => "skipped",
            Assignment::Expired { .. } => "expired",
        }
    }

    /// Keeps the item from this annotator: every state but expired.
    fn holds(&self) -> bool {
        !matches!(self, Assignment::Expired { .. })
    }
}

/// The assignments by item, then annotator: an item's are found without
/// looking at the others'.
#[derive(Debug, Clone, Default)]
pub struct Table(Vec<BTreeMap<usize, Assignment>>);

impl Table {
    fn new(items: usize) -> Self {
        Table(vec![BTreeMap::new(); items])
    }

    pub fn get(&self, &(item, who): &(usize, usize)) -> Option<&Assignment> {
        self.0[item].get(&who)
    }

    fn get_mut(&mut self, &(item, who): &(usize, usize)) -> Option<&mut Assignment> {
        self.0[item].get_mut(&who)
    }

    fn insert(&mut self, (item, who): (usize, usize), a: Assignment) {
        self.0[item].insert(who, a);
    }

    fn of_item(&self, item: usize) -> impl Iterator<Item = &Assignment> {
        self.0[item].values()
    }

    /// ((item, annotator), assignment) for every assignment.
    pub fn iter(&self) -> impl Iterator<Item = ((usize, usize), &Assignment)> {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.iter().map(move |(a, s)| ((i, *a), s)))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = ((usize, usize), &mut Assignment)> {
        self.0
            .iter_mut()
            .enumerate()
            .flat_map(|(i, m)| m.iter_mut().map(move |(a, s)| ((i, *a), s)))
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(BTreeMap::len).sum()
    }
}

/// What a lease may answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseExpect {
    /// 429: the daily cap is reached.
    Capped,
    /// A crowd worker's page shows the completion code.
    Completed,
    /// 403: a lead paused the annotator.
    Paused,
    /// The live lease again.
    Renewed(usize),
    /// One of these items (never empty).
    OneOf(BTreeSet<usize>),
    /// 204: nothing this annotator may take.
    Nothing,
}

/// What a submit may answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitExpect {
    Stored,
    /// The annotation a submit with the same id stored before.
    Same(Uuid),
    Refused,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub k: i32,
    pub gold_mixed: bool,
    pub routing: bool,
    pub cap: Option<i64>,
    /// Valid annotations a crowd worker owes before the completion code.
    pub quota: Option<i64>,
    pub items: Vec<Item>,
    pub assignments: Table,
    pub paused: HashSet<usize>,
    /// Annotations each annotator made (valid or not): today's count for
    /// the cap, and the gold draw's seed.
    pub made: Vec<i64>,
}

impl Model {
    pub fn new(k: i32, items: Vec<Item>, annotators: usize) -> Self {
        Model {
            k,
            gold_mixed: false,
            routing: false,
            cap: None,
            quota: None,
            assignments: Table::new(items.len()),
            items,
            paused: HashSet::new(),
            made: vec![0; annotators],
        }
    }

    pub fn wanted(&self, item: usize) -> i32 {
        self.k + self.items[item].extra
    }

    /// Valid annotations of the item.
    pub fn done(&self, item: usize) -> i32 {
        self.on_item(item)
            .filter(|a| matches!(a, Assignment::Submitted { valid: true, .. }))
            .count() as i32
    }

    /// Leases holding a slot of the item (live or overdue).
    pub fn leased(&self, item: usize) -> i32 {
        self.on_item(item)
            .filter(|a| matches!(a, Assignment::Leased { .. }))
            .count() as i32
    }

    fn on_item(&self, item: usize) -> impl Iterator<Item = &Assignment> {
        self.assignments.of_item(item)
    }

    fn gold_mixed_item(&self, item: usize) -> bool {
        self.gold_mixed && self.items[item].gold
    }

    fn untouched(&self, item: usize, who: usize) -> bool {
        self.assignments
            .get(&(item, who))
            .is_none_or(|a| !a.holds())
    }

    /// `who`'s valid annotations.
    fn valid_made(&self, who: usize) -> i64 {
        self.assignments
            .iter()
            .filter(|((_, a), s)| {
                *a == who && matches!(s, Assignment::Submitted { valid: true, .. })
            })
            .count() as i64
    }

    /// Regular items `who` may take: pending, below their wanted number
    /// counting every lease that holds a slot, and not theirs.
    pub fn takeable(&self, who: usize) -> BTreeSet<usize> {
        (0..self.items.len())
            .filter(|&i| {
                self.items[i].state == ItemState::Pending
                    && self.done(i) + self.leased(i) < self.wanted(i)
                    && self.untouched(i, who)
            })
            .collect()
    }

    /// Gold items `who` has not had (any state: gold items are not bounded
    /// by k when the project mixes them in).
    fn gold_left(&self, who: usize) -> BTreeSet<usize> {
        (0..self.items.len())
            .filter(|&i| self.gold_mixed_item(i) && self.untouched(i, who))
            .collect()
    }

    /// The live lease `who` holds, if any.
    pub fn held(&self, who: usize) -> Option<usize> {
        self.assignments
            .iter()
            .find(|((_, a), s)| *a == who && matches!(s, Assignment::Leased { .. }))
            .map(|((i, _), _)| i)
    }

    /// What a lease of `who` may answer, given their gold draw; applies the
    /// sweep the server makes when it first finds nothing.
    pub fn expect_lease(&mut self, who: usize, gold_draw: bool) -> LeaseExpect {
        if self
            .quota
            .is_some_and(|quota| self.valid_made(who) >= quota)
        {
            return LeaseExpect::Completed;
        }
        if self.cap.is_some_and(|cap| self.made[who] >= cap) {
            return LeaseExpect::Capped;
        }
        if self.paused.contains(&who) {
            return LeaseExpect::Paused;
        }
        if let Some(item) = self.held(who) {
            return LeaseExpect::Renewed(item);
        }
        let first = self.candidates(who, gold_draw);
        if !first.is_empty() {
            return LeaseExpect::OneOf(first);
        }
        self.sweep();
        let second = self.candidates(who, gold_draw);
        if second.is_empty() {
            LeaseExpect::Nothing
        } else {
            LeaseExpect::OneOf(second)
        }
    }

    /// The items a lease in the submit's transaction may give (no sweep
    /// there): None when it would find nothing.
    pub fn next_lease_options(&self, who: usize) -> BTreeSet<usize> {
        self.candidates(who, false)
    }

    fn candidates(&self, who: usize, gold_draw: bool) -> BTreeSet<usize> {
        if gold_draw {
            let gold = self.gold_left(who);
            if !gold.is_empty() {
                return gold;
            }
        }
        self.takeable(who)
    }

    /// The lease given: a new row, or the annotator's expired one again
    /// (same id).
    pub fn apply_lease(&mut self, who: usize, item: usize, id: Uuid) -> Result<(), String> {
        match self.assignments.get(&(item, who)) {
            Some(Assignment::Expired { id: old, .. }) if *old != id => {
                return Err(format!(
                    "item {item} came back to annotator {who} under a new assignment {id}, not its expired {old}"
                ));
            }
            Some(Assignment::Leased { id: old, .. }) if *old != id => {
                return Err(format!("the renewed lease changed id: {old} -> {id}"));
            }
            _ => {}
        }
        self.assignments
            .insert((item, who), Assignment::Leased { id, overdue: false });
        Ok(())
    }

    /// Every overdue lease becomes expired.
    pub fn sweep(&mut self) {
        for (_, a) in self.assignments.iter_mut() {
            if let Assignment::Leased { id, overdue: true } = *a {
                *a = Assignment::Expired { id, refused: None };
            }
        }
    }

    pub fn expire(&mut self, item: usize, who: usize) {
        if let Some(Assignment::Leased { overdue, .. }) = self.assignments.get_mut(&(item, who)) {
            *overdue = true;
        }
    }

    /// Sign-out: every live lease of `who` ends.
    pub fn release_all(&mut self, who: usize) {
        for ((_, a), s) in self.assignments.iter_mut() {
            if a == who
                && let Assignment::Leased { id, .. } = *s
            {
                *s = Assignment::Expired { id, refused: None };
            }
        }
    }

    /// What a submit of `who`'s assignment on `item` may answer.
    pub fn expect_submit(&self, item: usize, who: usize, submission: Uuid) -> SubmitExpect {
        let gold = self.gold_mixed_item(item);
        let (done, leased, wanted) = (self.done(item), self.leased(item), self.wanted(item));
        let open = gold || (self.items[item].state == ItemState::Pending && done < wanted);
        match self.assignments.get(&(item, who)) {
            Some(Assignment::Leased { .. }) if open => SubmitExpect::Stored,
            Some(Assignment::Expired { refused, .. })
                if open && (gold || done + leased < wanted) && *refused != Some(submission) =>
            {
                SubmitExpect::Stored
            }
            Some(Assignment::Submitted {
                annotation,
                submission: earlier,
                ..
            }) if *earlier == submission => SubmitExpect::Same(*annotation),
            _ => SubmitExpect::Refused,
        }
    }

    /// Applies a submit's answer as `expect_submit` predicted it;
    /// `agrees`: the labels match the routing source's suggestion.
    pub fn apply_submit(
        &mut self,
        item: usize,
        who: usize,
        submission: Uuid,
        stored: Option<Uuid>,
        agrees: bool,
    ) {
        let before = self.assignments.get(&(item, who)).cloned();
        let Some(before) = before else { return };
        let Some(annotation) = stored else {
            match before {
                Assignment::Leased { id, .. } => {
                    self.assignments
                        .insert((item, who), Assignment::Expired { id, refused: None });
                }
                Assignment::Expired { id, .. } => {
                    self.assignments.insert(
                        (item, who),
                        Assignment::Expired {
                            id,
                            refused: Some(submission),
                        },
                    );
                }
                _ => {}
            }
            return;
        };
        let done_before = self.done(item);
        let wanted = self.wanted(item);
        let pending = self.items[item].state == ItemState::Pending;
        self.assignments.insert(
            (item, who),
            Assignment::Submitted {
                id: before.id(),
                annotation,
                submission,
                valid: true,
            },
        );
        self.made[who] += 1;
        let it = &mut self.items[item];
        it.routed = it.routed && done_before > 0;
        if pending && done_before + 1 >= wanted {
            it.state = ItemState::Complete;
        } else if pending
            && self.routing
            && done_before == 0
            && wanted > 1
            && !(self.gold_mixed && it.gold)
            && it.suggested
            && agrees
        {
            it.state = ItemState::Complete;
            it.routed = true;
        }
    }

    /// A skip of `who`'s assignment on `item`: refused (false) only when
    /// it was submitted.
    pub fn skip(&mut self, item: usize, who: usize) -> bool {
        match self.assignments.get(&(item, who)).cloned() {
            Some(Assignment::Submitted { .. }) => false,
            Some(a) => {
                self.assignments
                    .insert((item, who), Assignment::Skipped { id: a.id() });
                true
            }
            None => true,
        }
    }

    /// A lead's requeue of all of `who`'s valid work: false (refused) when
    /// there is none.
    pub fn requeue(&mut self, who: usize) -> bool {
        let items: Vec<usize> = self
            .assignments
            .iter()
            .filter(|((_, a), s)| {
                *a == who && matches!(s, Assignment::Submitted { valid: true, .. })
            })
            .map(|((i, _), _)| i)
            .collect();
        for &item in &items {
            if let Some(Assignment::Submitted { valid, .. }) =
                self.assignments.get_mut(&(item, who))
            {
                *valid = false;
            }
            if self.items[item].state == ItemState::Complete && self.done(item) < self.wanted(item)
            {
                self.items[item].state = ItemState::Pending;
            }
        }
        !items.is_empty()
    }

    /// A lead's send-back of an item (no item is adjudicated here): one
    /// more wanted (a routed item goes back to k), pending unless it
    /// already has that many (a gold item may).
    pub fn send_back(&mut self, item: usize) {
        if !self.items[item].routed {
            self.items[item].extra += 1;
        }
        if self.done(item) < self.wanted(item) {
            self.items[item].state = ItemState::Pending;
            self.items[item].routed = false;
        }
    }

    /// `who`'s newest annotation (valid or not).
    pub fn newest_annotation(&self, who: usize, order: &[(usize, Uuid)]) -> Option<(Uuid, bool)> {
        let (_, annotation) = order.iter().rev().find(|(a, _)| *a == who)?;
        let valid = self.assignments.iter().any(|(_, s)| {
            matches!(s, Assignment::Submitted { annotation: x, valid: true, .. } if x == annotation)
        });
        Some((*annotation, valid))
    }

    /// Items that can never complete: fewer annotators left who may take
    /// them than annotations they still need.
    pub fn stuck(&self, annotators: usize) -> Vec<usize> {
        (0..self.items.len())
            .filter(|&i| {
                let free = (0..annotators).filter(|&a| self.untouched(i, a)).count() as i32;
                self.items[i].state == ItemState::Pending
                    && self.done(i) + self.leased(i) + free < self.wanted(i)
            })
            .collect()
    }
}
