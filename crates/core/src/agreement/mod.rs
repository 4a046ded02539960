//! Inter-annotator agreement statistics, pure functions over reliability data.
//!
//! The definitions:
//!
//! * Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's
//!   Alpha-Reliability") through the coincidence matrix, with the nominal,
//!   ordinal and interval metrics and any distance function δ(a, b) — e.g.
//!   MASI (Passonneau 2006) on category sets ([`masi_distance_bits`]).
//! * Fleiss' kappa (Fleiss 1971), Cohen's kappa per pair of coders, raw
//!   percent agreement and positive / negative specific agreement.
//! * A seeded, reproducible percentile bootstrap CI of alpha.
//!
//! Every statistic returns `None` when it is undefined (no pairable values,
//! one category only, too few shared units …); no number is ever made up.
//!
//! # Reliability data
//!
//! A *unit* is what coders rate (an item, or a response of an item). The
//! statistics read units reduced to the multiset of their values
//! ([`Profiles`]); the bootstrap reads them grouped by item
//! ([`ItemRatings`]), since it resamples items; Cohen's kappa reads each
//! unit's `(coder, value)` pairs ([`PairTables`]). Coders are identified
//! only by their index, so callers map annotator ids to `0..coders`
//! themselves.
//!
//! The files: `profiles` (units counted by multiset), `alpha`
//! (Krippendorff), `kappa` (Fleiss, Cohen, percent and specific agreement),
//! `bootstrap` (items and alpha's confidence intervals); the tests also have
//! `ratings`, plain units × coders and every statistic computed straight
//! from it.

mod alpha;
mod bootstrap;
mod kappa;
mod profiles;
#[cfg(test)]
mod ratings;

pub use alpha::{
    Coincidence, Metric, alpha_from_coincidence, alpha_of, alpha_with_of, coincidence_of,
    masi_distance_bits,
};
pub use bootstrap::{
    Bootstrap, Interval, ItemRatings, alpha_intervals, interval_of, resample_alphas,
};
pub use kappa::{
    PairKappa, PairTables, SpecificAgreement, fleiss_kappa_of, percent_agreement_of,
    specific_agreement_of,
};
pub use profiles::Profiles;
#[cfg(test)]
pub use ratings::{
    Ratings, alpha_interval, alpha_masi, alpha_nominal, alpha_ordinal, cohen_kappa_pairs,
    fleiss_kappa, percent_agreement, specific_agreement,
};
