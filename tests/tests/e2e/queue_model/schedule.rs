//! Seeded schedules: a project's shape, who works when, and what they do.
//! A schedule is plain data (serde), so a shrunk failure can be written to
//! a file and replayed.

use serde::{Deserialize, Serialize};

/// xorshift64*: reproducible choices without another dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// 1..=max, small numbers far likelier than large (log-uniform).
    pub fn skewed(&mut self, max: u64) -> u64 {
        let bits = 64 - max.leading_zeros() as u64;
        let top = 1u64 << self.below(bits + 1);
        (1 + self.below(top)).min(max)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Through {
    /// The queue's functions on PostgreSQL, in this process.
    Functions,
    /// The JSON API of two `safepref serve` processes, in turn.
    TwoServers,
    /// Crowd workers joined by the project's link, on the annotation page
    /// of two `safepref serve` processes, in turn.
    CrowdPages,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setup {
    pub annotators: usize,
    pub items: usize,
    /// Annotations per item.
    pub k: i32,
    /// Responses per item.
    pub responses: usize,
    /// Items after the regular ones that carry gold labels.
    pub gold_items: usize,
    pub gold_rate: f64,
    /// Items (by index) the routing source suggested for; None: no rule.
    pub routing: Option<Vec<usize>>,
    pub daily_cap: Option<i32>,
    /// Items per crowd worker (`Through::CrowdPages`).
    #[serde(default)]
    pub crowd_quota: Option<i32>,
    pub through: Through,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Skip {
    Unclear,
    WrongLanguage,
    TooDisturbing,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    Lease(usize),
    /// Submits what the annotator holds; `agree`: the labels match the
    /// routing source's; `next`: ask for the next lease with the answer.
    Submit {
        who: usize,
        agree: bool,
        next: bool,
    },
    /// The same submission sent twice.
    SubmitTwice(usize),
    Skip(usize, Skip),
    /// The annotator walks away from the lease and signs out.
    Abandon(usize),
    /// The annotator's lease runs past its time (the clock moves).
    Expire(usize),
    Sweep,
    Revise(usize),
    Pause(usize),
    Resume(usize),
    Requeue(usize),
    SendBack(usize),
    /// These annotators lease and submit in turn until none gets an item.
    Drain(Vec<usize>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Schedule {
    pub seed: u64,
    pub setup: Setup,
    pub steps: Vec<Step>,
}

impl Schedule {
    /// Whether every item should end complete: everyone works at the end,
    /// nothing keeps an annotator from an item for good (a skip, a
    /// requeue, a cap), and there are enough annotators for every item's
    /// wanted number.
    pub fn should_complete_all(&self) -> bool {
        let most_wanted = self.setup.k
            + self
                .steps
                .iter()
                .filter(|s| matches!(s, Step::SendBack(_)))
                .count() as i32;
        let everyone: Vec<usize> = (0..self.setup.annotators).collect();
        self.steps.last() == Some(&Step::Drain(everyone))
            && self.setup.daily_cap.is_none()
            && self.setup.crowd_quota.is_none()
            && self.setup.annotators as i32 >= most_wanted
            && !self
                .steps
                .iter()
                .any(|s| matches!(s, Step::Skip(..) | Step::Requeue(_)))
    }
}

/// The schedule of `seed` through `through`.
pub fn generate(seed: u64, through: Through) -> Schedule {
    let mut rng = Rng::new(seed);
    let (max_annotators, max_items) = match through {
        Through::Functions => (20, 500),
        Through::TwoServers => (20, 60),
        // The join link admits 30 joins per address in the throttle's window.
        Through::CrowdPages => (8, 40),
    };
    let annotators = rng.skewed(max_annotators) as usize;
    // Most schedules are small (the cheap ones find most faults, and run
    // in a fraction of the time); one in ten may have up to the maximum.
    let largest = if rng.chance(90) {
        max_items.min(60)
    } else {
        max_items
    };
    let items = rng.skewed(largest) as usize;
    let k = 1 + rng.below(5) as i32;
    let crowd = through == Through::CrowdPages;
    // The page's form is filled for two responses.
    let responses = if crowd { 2 } else { 2 + rng.below(3) as usize };
    let (gold_items, gold_rate) = if rng.chance(20) {
        (
            1 + rng.below(items as u64 / 5 + 1) as usize,
            0.05 * (1 + rng.below(4)) as f64,
        )
    } else {
        (0, 0.0)
    };
    let routing =
        (!crowd && rng.chance(20)).then(|| (0..items).filter(|_| rng.chance(60)).collect());
    let daily_cap = rng
        .chance(10)
        .then(|| 1 + rng.below((items as u64 * k as u64 / annotators as u64).max(1) + 2) as i32);
    let setup = Setup {
        annotators,
        items,
        k,
        responses,
        gold_items,
        gold_rate,
        routing,
        daily_cap,
        crowd_quota: crowd.then(|| 1 + rng.below(items as u64 + 2) as i32),
        through,
    };
    let all: Vec<usize> = (0..annotators).collect();
    let groups: Vec<Vec<usize>> = match rng.below(3) {
        // Together.
        0 => vec![all.clone()],
        // One after another.
        1 => all.iter().map(|&a| vec![a]).collect(),
        // In waves.
        _ => {
            let size = 1 + rng.below(annotators as u64) as usize;
            all.chunks(size).map(<[usize]>::to_vec).collect()
        }
    };
    let total = items + gold_items;
    let mut steps = Vec::new();
    for group in &groups {
        let actions = rng.below(4 * (total as u64).min(60) + 1);
        for _ in 0..actions {
            steps.push(action(&mut rng, group, total));
        }
        steps.push(Step::Drain(group.clone()));
        // A lead sends finished items back: they must reach the group
        // again, though it has passed them.
        if rng.chance(30) {
            for _ in 0..1 + rng.below(3) {
                steps.push(Step::SendBack(rng.below(total as u64) as usize));
            }
            steps.push(Step::Drain(group.clone()));
        }
    }
    for who in 0..annotators {
        steps.push(Step::Resume(who));
    }
    steps.push(Step::Drain(all));
    Schedule { seed, setup, steps }
}

fn action(rng: &mut Rng, group: &[usize], items: usize) -> Step {
    let who = group[rng.below(group.len() as u64) as usize];
    match rng.below(100) {
        0..30 => Step::Lease(who),
        30..55 => Step::Submit {
            who,
            agree: rng.chance(70),
            next: false,
        },
        55..65 => Step::Submit {
            who,
            agree: rng.chance(70),
            next: true,
        },
        65..69 => Step::SubmitTwice(who),
        69..74 => Step::Skip(
            who,
            [
                Skip::Unclear,
                Skip::WrongLanguage,
                Skip::TooDisturbing,
                Skip::Other,
            ][rng.below(4) as usize],
        ),
        74..78 => Step::Expire(who),
        78..81 => Step::Sweep,
        81..83 => Step::Abandon(who),
        83..87 => Step::Revise(who),
        87..90 => Step::Pause(who),
        90..94 => Step::Resume(who),
        94..95 => Step::Requeue(who),
        _ => Step::SendBack(rng.below(items as u64) as usize),
    }
}
