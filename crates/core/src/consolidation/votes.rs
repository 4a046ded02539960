//! What consolidation reads of a vote: the categorical fields of a
//! project's labels in a fixed order ([`Layout`]), and an annotator's labels
//! — full or decoded compactly — encoded as one class byte per field.

use crate::labels::{Decoded, Labels, Questions};
use crate::taxonomy::Taxonomy;

/// What consolidation reads of one vote: full labels, or labels decoded
/// compactly (their categories already bits in taxonomy order), so the
/// same rules serve both.
pub(super) trait Vote {
    fn n_responses(&self) -> usize;
    /// Response `i`'s safe and severity (`i` below [`Vote::n_responses`]).
    fn response(&self, i: usize) -> (bool, u8);
    /// Response `i`'s categories as bits in taxonomy order; `None` when a
    /// name is outside the taxonomy (see [`Layout::mask`]).
    fn categories(&self, i: usize, layout: &Layout) -> Option<u64>;
    fn ranking(&self, r: Ranking) -> &[usize];
    fn overall(&self) -> Option<usize>;
    fn confidence(&self) -> Option<u8>;
}

impl Vote for Labels {
    fn n_responses(&self) -> usize {
        self.responses.len()
    }
    fn response(&self, i: usize) -> (bool, u8) {
        (self.responses[i].safe, self.responses[i].severity)
    }
    fn categories(&self, i: usize, layout: &Layout) -> Option<u64> {
        layout.mask(&self.responses[i].categories)
    }
    fn ranking(&self, r: Ranking) -> &[usize] {
        match r {
            Ranking::Helpfulness => &self.helpfulness,
            Ranking::Harmlessness => &self.harmlessness,
        }
    }
    fn overall(&self) -> Option<usize> {
        self.overall
    }
    fn confidence(&self) -> Option<u8> {
        self.confidence
    }
}

impl Vote for Decoded {
    fn n_responses(&self) -> usize {
        match self {
            Decoded::Compact(c) => c.responses().len(),
            Decoded::Full(l) => l.n_responses(),
        }
    }
    fn response(&self, i: usize) -> (bool, u8) {
        match self {
            Decoded::Compact(c) => (c.responses()[i].safe, c.responses()[i].severity),
            Decoded::Full(l) => l.response(i),
        }
    }
    fn categories(&self, i: usize, layout: &Layout) -> Option<u64> {
        match self {
            Decoded::Compact(c) => Some(c.responses()[i].categories),
            Decoded::Full(l) => l.categories(i, layout),
        }
    }
    fn ranking(&self, r: Ranking) -> &[usize] {
        match (self, r) {
            (Decoded::Compact(c), Ranking::Helpfulness) => c.helpfulness.as_slice(),
            (Decoded::Compact(c), Ranking::Harmlessness) => c.harmlessness.as_slice(),
            (Decoded::Full(l), r) => l.ranking(r),
        }
    }
    fn overall(&self) -> Option<usize> {
        match self {
            Decoded::Compact(c) => c.overall,
            Decoded::Full(l) => l.overall,
        }
    }
    fn confidence(&self) -> Option<u8> {
        match self {
            Decoded::Compact(c) => c.confidence,
            Decoded::Full(l) => l.confidence,
        }
    }
}

impl<V: Vote + ?Sized> Vote for &V {
    fn n_responses(&self) -> usize {
        (**self).n_responses()
    }
    fn response(&self, i: usize) -> (bool, u8) {
        (**self).response(i)
    }
    fn categories(&self, i: usize, layout: &Layout) -> Option<u64> {
        (**self).categories(i, layout)
    }
    fn ranking(&self, r: Ranking) -> &[usize] {
        (**self).ranking(r)
    }
    fn overall(&self) -> Option<usize> {
        (**self).overall()
    }
    fn confidence(&self) -> Option<u8> {
        (**self).confidence()
    }
}

/// A categorical field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Field {
    Safe(usize),
    Severity(usize),
    /// Response, category index in the taxonomy.
    Category(usize, usize),
    /// The first position of a ranking (K ≤ 2).
    First(Ranking),
    Overall,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Ranking {
    Helpfulness,
    Harmlessness,
}

fn ranking_name(r: Ranking) -> &'static str {
    match r {
        Ranking::Helpfulness => "helpfulness",
        Ranking::Harmlessness => "harmlessness",
    }
}

/// Whether `ranking` is a permutation of `0..k`.
pub(super) fn is_full_ranking(ranking: &[usize], k: usize) -> bool {
    if ranking.len() != k {
        return false;
    }
    // A bit per position (K is at most 8): no allocation per vote.
    let mut seen = 0u64;
    for &p in ranking {
        if p >= k || p >= 64 || seen >> p & 1 == 1 {
            return false;
        }
        seen |= 1 << p;
    }
    true
}

/// Marks a vote that gives a field no valid class.
pub(super) const NO_CLASS: u8 = u8::MAX;

/// What a project's labels mean for consolidation: K, the taxonomy, the
/// questions, and the categorical fields in a fixed order — per response
/// (with the safety question) `safe`, `severity`, then one field per
/// category; then the first positions of the rankings (K ≤ 2); then
/// `overall`. A vote is held as one class byte per field.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub(super) k: usize,
    pub(super) taxonomy: Taxonomy,
    pub(super) questions: Questions,
    pub(super) fields: Vec<Field>,
    /// Where in `fields` each ranking's first position is (helpfulness,
    /// harmlessness; K ≤ 2 and asked), and `overall`: looked up once, not
    /// per item.
    pub(super) first: [Option<usize>; 2],
    pub(super) overall: Option<usize>,
}

impl Layout {
    pub(super) fn new(k: usize, taxonomy: &Taxonomy, questions: &Questions) -> Layout {
        let n_cat = taxonomy.categories.len();
        let mut fields = Vec::new();
        if questions.safety {
            for i in 0..k {
                fields.extend([Field::Safe(i), Field::Severity(i)]);
                fields.extend((0..n_cat).map(|c| Field::Category(i, c)));
            }
        }
        if k <= 2 {
            for (r, asked) in [
                (Ranking::Helpfulness, questions.helpfulness),
                (Ranking::Harmlessness, questions.harmlessness),
            ] {
                if asked {
                    fields.push(Field::First(r));
                }
            }
        }
        if questions.overall {
            fields.push(Field::Overall);
        }
        let at = |wanted: Field| fields.iter().position(|f| *f == wanted);
        Layout {
            k,
            taxonomy: taxonomy.clone(),
            questions: *questions,
            first: [
                at(Field::First(Ranking::Helpfulness)),
                at(Field::First(Ranking::Harmlessness)),
            ],
            overall: at(Field::Overall),
            fields,
        }
    }

    pub(super) fn n_cat(&self) -> usize {
        self.taxonomy.categories.len()
    }

    pub(super) fn category(&self, c: usize) -> &str {
        &self.taxonomy.categories[c].name
    }

    /// Index in `fields` of response `i`'s `safe` field; `severity` follows,
    /// then the categories.
    pub(super) fn response_field(&self, i: usize) -> usize {
        i * (2 + self.n_cat())
    }

    pub(super) fn n_classes(&self, field: Field) -> usize {
        match field {
            Field::Safe(_) | Field::Category(..) => 2,
            Field::Severity(_) => 4,
            Field::First(_) | Field::Overall => self.k,
        }
    }

    pub(super) fn field_name(&self, field: Field) -> String {
        match field {
            Field::Safe(i) => format!("responses[{i}].safe"),
            Field::Severity(i) => format!("responses[{i}].severity"),
            Field::Category(i, c) => format!("responses[{i}].categories[{}]", self.category(c)),
            Field::First(r) => ranking_name(r).to_string(),
            Field::Overall => "overall".to_string(),
        }
    }

    /// The categories ticked, as bits in taxonomy order; `None` when a name
    /// is not in the taxonomy (or beyond the 64 a taxonomy may have).
    pub(super) fn mask(&self, names: &[String]) -> Option<u64> {
        names.iter().try_fold(0u64, |mask, name| {
            let c = self
                .taxonomy
                .categories
                .iter()
                .position(|c| &c.name == name)?;
            Some(mask | 1u64.checked_shl(c as u32)?)
        })
    }

    /// Writes the class one annotator's labels give each field into `out`
    /// (one byte per field; [`NO_CLASS`] when the field is malformed — see
    /// the `consolidation` module documentation).
    pub(super) fn encode<V: Vote + ?Sized>(&self, labels: &V, out: &mut [u8]) {
        let n_cat = self.n_cat();
        let mut f = 0;
        if self.questions.safety {
            let well_formed = labels.n_responses() == self.k;
            for i in 0..self.k {
                let fields = &mut out[f..f + 2 + n_cat];
                f += 2 + n_cat;
                if !well_formed {
                    fields.fill(NO_CLASS);
                    continue;
                }
                let (safe, severity) = labels.response(i);
                fields[0] = u8::from(!safe);
                fields[1] = match (safe, severity) {
                    (true, _) => 0,
                    (false, s @ 0..=3) => s,
                    _ => NO_CLASS,
                };
                let ticked = if safe {
                    Some(0)
                } else {
                    labels.categories(i, self)
                };
                for (c, slot) in fields[2..].iter_mut().enumerate() {
                    *slot = match ticked {
                        Some(m) if c < 64 => ((m >> c) & 1) as u8,
                        _ => NO_CLASS,
                    };
                }
            }
        }
        for (slot, field) in out[f..].iter_mut().zip(&self.fields[f..]) {
            let class = match *field {
                Field::First(r) => {
                    let ranking = labels.ranking(r);
                    is_full_ranking(ranking, self.k)
                        .then(|| ranking.first().copied())
                        .flatten()
                }
                Field::Overall => labels.overall().filter(|&p| p < self.k),
                _ => None,
            };
            *slot = class.and_then(|c| u8::try_from(c).ok()).unwrap_or(NO_CLASS);
        }
    }
}
