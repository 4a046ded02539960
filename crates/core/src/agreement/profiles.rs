//! Reliability data reduced to what most statistics depend on: how many
//! units show each multiset of values.

use std::collections::{BTreeMap, BTreeSet};

/// Reliability data reduced to what alpha, Fleiss' kappa, percent and
/// specific agreement depend on: how many units show each multiset of values.
/// Neither the coders' identities nor the units' order matter to those
/// statistics, and a few hundred thousand units typically show a few dozen
/// multisets, so the statistics cost next to nothing once the units are
/// counted.
#[derive(Debug, Clone)]
pub struct Profiles<V> {
    /// Distinct multisets (values sorted) and how many units show each.
    profiles: Vec<(Vec<V>, usize)>,
    index: BTreeMap<Vec<V>, usize>,
}

impl<V> Default for Profiles<V> {
    fn default() -> Self {
        Self {
            profiles: Vec::new(),
            index: BTreeMap::new(),
        }
    }
}

impl<V: Ord + Clone> Profiles<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a unit with these values (sorted in place); returns the id of
    /// its multiset.
    pub fn add(&mut self, values: &mut [V]) -> usize {
        self.add_times(values, 1)
    }

    fn add_times(&mut self, values: &mut [V], times: usize) -> usize {
        values.sort_unstable();
        let id = match self.index.get(&*values) {
            Some(&id) => id,
            None => {
                let id = self.profiles.len();
                self.index.insert(values.to_vec(), id);
                self.profiles.push((values.to_vec(), 0));
                id
            }
        };
        self.profiles[id].1 += times;
        id
    }

    /// The same units with every value mapped (multisets that become equal
    /// merge).
    pub fn map<W: Ord + Clone>(&self, mut f: impl FnMut(&V) -> W) -> Profiles<W> {
        let mut out = Profiles::new();
        for (values, n) in &self.profiles {
            let mut mapped: Vec<W> = values.iter().map(&mut f).collect();
            out.add_times(&mut mapped, *n);
        }
        out
    }

    /// The distinct multisets and their unit counts.
    pub fn profiles(&self) -> &[(Vec<V>, usize)] {
        &self.profiles
    }

    /// Units with at least two values.
    pub fn pairable_units(&self) -> usize {
        self.pairable().map(|(_, n)| n).sum()
    }

    /// Values in units with at least two.
    pub fn pairable_values(&self) -> usize {
        self.pairable().map(|(v, n)| v.len() * n).sum()
    }

    /// The multisets of at least two values (the ones the statistics use)
    /// and their unit counts.
    pub(super) fn pairable(&self) -> impl Iterator<Item = (&[V], usize)> {
        self.profiles
            .iter()
            .filter(|(v, _)| v.len() >= 2)
            .map(|(v, n)| (v.as_slice(), *n))
    }

    /// The pairable values, distinct, ascending.
    pub(super) fn values(&self) -> Vec<V> {
        let set: BTreeSet<&V> = self.pairable().flat_map(|(v, _)| v).collect();
        set.into_iter().cloned().collect()
    }
}
