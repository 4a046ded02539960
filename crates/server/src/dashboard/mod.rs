//! The review dashboard's figures for one project and scope: progress (SQL
//! aggregates), work over time and the pace, the agreement report
//! (`report::Reader`, so the page shows `safepref report`'s numbers, its
//! model-vs-people figures per suggestion source included), the
//! trend of `safe`'s alpha across batches, a severity confusion of each
//! annotator against the item's final labels, and the annotators' table.
//!
//! The agreement figures, the trend and the confusion come from one pass
//! over the scope's annotations in item order (decoding each JSON label
//! once). That pass is still the page's dearest part, so its figures are
//! cached in `dashboard_cache` with a fingerprint of the project's data
//! taken *before* computing. When the data has changed since, the page
//! shows the stale figures at once, says how old they are, and one
//! background task recomputes them (stale-while-revalidate); only a scope's
//! first view, or `fresh=1`, computes in the request. Everything else is
//! cheap SQL, read fresh. Every failure is a [`DashboardError`].

mod annotators;
mod cache;
mod error;
mod pass;
mod progress;
mod running;
mod view;

pub use annotators::*;
pub use cache::*;
pub use error::DashboardError;
pub use progress::*;
pub use view::*;

use serde_json::json;
use time::OffsetDateTime;

use crate::report::{ReportError, ReportScope};

/// Batches shown in the trend: the newest ones (each costs a report builder).
const TREND_BATCHES: usize = 20;
/// Items consolidated together for the severity confusion.
const CHUNK_ITEMS: usize = 500;
/// The chart shows hours up to this span, days beyond it.
const HOURLY_SPAN_DAYS: i64 = 14;
/// The longest span the chart covers (in days).
const MAX_SPAN_DAYS: i64 = 366;

/// A column of the annotators' table to sort by (`sort=` in the URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Annotator,
    Done,
    Today,
    Median,
    Agreement,
    Gold,
    Skip,
    Flags,
}

impl SortKey {
    pub const ALL: [SortKey; 8] = [
        SortKey::Annotator,
        SortKey::Done,
        SortKey::Today,
        SortKey::Median,
        SortKey::Agreement,
        SortKey::Gold,
        SortKey::Skip,
        SortKey::Flags,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Annotator => "annotator",
            SortKey::Done => "done",
            SortKey::Today => "today",
            SortKey::Median => "median",
            SortKey::Agreement => "agreement",
            SortKey::Gold => "gold",
            SortKey::Skip => "skip",
            SortKey::Flags => "flags",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Annotator => "Annotator",
            SortKey::Done => "Done",
            SortKey::Today => "Today",
            SortKey::Median => "Median s / item",
            SortKey::Agreement => "Agreement with consensus",
            SortKey::Gold => "Gold accuracy",
            SortKey::Skip => "Skip rate",
            SortKey::Flags => "Flags",
        }
    }
}

/// The dashboard's URL state: the report scope and the table's order.
#[derive(Debug, Clone)]
pub struct Filters {
    pub scope: ReportScope,
    pub sort: SortKey,
    pub descending: bool,
    /// `fresh=1`: compute the agreement figures now rather than show stale
    /// ones. Not part of the scope (nor of the cache key).
    pub fresh: bool,
}

impl Filters {
    /// From the query string's pairs; empty values (a blank form field) are
    /// unset, and a bad value gives a 400 naming its parameter.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Filters, DashboardError> {
        let mut filters = Filters {
            scope: ReportScope::default(),
            sort: SortKey::Done,
            descending: true,
            fresh: false,
        };
        let mut scope_pairs = Vec::new();
        for (name, value) in pairs.iter().filter(|(_, v)| !v.trim().is_empty()) {
            match name.as_str() {
                "sort" => {
                    filters.sort = SortKey::ALL
                        .into_iter()
                        .find(|k| k.name() == value)
                        .ok_or_else(|| {
                            let names: Vec<&str> = SortKey::ALL.iter().map(|k| k.name()).collect();
                            DashboardError::BadParameter(format!(
                                "sort: {value:?} is not one of {}",
                                names.join(", ")
                            ))
                        })?
                }
                "dir" => {
                    filters.descending = match value.as_str() {
                        "asc" => false,
                        "desc" => true,
                        _ => {
                            return Err(DashboardError::BadParameter(format!(
                                "dir: {value:?} is not asc or desc"
                            )));
                        }
                    }
                }
                // The switch's rule is the site's (`routes::flag`), whose
                // refusal is a 400 naming the parameter.
                "fresh" => {
                    filters.fresh = crate::routes::flag("fresh", value)
                        .map_err(|e| DashboardError::BadParameter(e.to_string()))?
                }
                _ => scope_pairs.push((name.clone(), value.trim().to_string())),
            }
        }
        filters.scope = ReportScope::from_pairs(&scope_pairs).map_err(|e| match e {
            ReportError::UnknownParameter(name) => DashboardError::UnknownParameter(name),
            other => DashboardError::Report(other),
        })?;
        if let (Some(since), Some(until)) = (filters.scope.since, filters.scope.until)
            && since >= until
        {
            return Err(DashboardError::EmptySpan);
        }
        Ok(filters)
    }

    /// The scope's filters as query pairs, in a fixed order.
    pub fn scope_pairs(&self) -> Vec<(&'static str, String)> {
        let s = &self.scope;
        let mut pairs = Vec::new();
        pairs.extend(s.batch.map(|b| ("batch", b.to_string())));
        pairs.extend(s.since.map(|t| ("since", rfc3339(t))));
        pairs.extend(s.until.map(|t| ("until", rfc3339(t))));
        pairs.extend(s.annotators.iter().map(|a| ("annotator", a.clone())));
        pairs.extend(
            s.suggestion_mode
                .map(|m| ("suggestion_mode", m.as_str().to_string())),
        );
        pairs
    }

    /// A query string with these filters and the given order.
    pub fn query(&self, sort: SortKey, descending: bool) -> String {
        let mut pairs = self.scope_pairs();
        pairs.push(("sort", sort.name().to_string()));
        pairs.push(("dir", if descending { "desc" } else { "asc" }.to_string()));
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// The cache key of the scope: one text per distinct scope.
    pub fn scope_key(&self) -> String {
        json!(self.scope_pairs()).to_string()
    }
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    fn pairs(query: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(query).unwrap()
    }

    #[test]
    fn filters_round_trip_through_the_url() {
        let f = Filters::from_pairs(&pairs(
            "batch=2&since=2026-11-01T00:00:00Z&annotator=b&annotator=a&sort=gold&dir=asc&until=",
        ))
        .unwrap();
        assert_eq!(f.scope.batch, Some(2));
        assert_eq!(f.scope.annotators, ["a", "b"]);
        assert!(f.scope.until.is_none(), "a blank field is no filter");
        assert_eq!((f.sort, f.descending), (SortKey::Gold, false));
        let again = Filters::from_pairs(&pairs(&f.query(f.sort, f.descending))).unwrap();
        assert_eq!(again.scope_key(), f.scope_key());
        assert_eq!((again.sort, again.descending), (SortKey::Gold, false));
    }

    #[test]
    fn a_bad_value_names_its_parameter() {
        for (query, name) in [
            ("batch=x", "batch:"),
            ("since=yesterday", "since:"),
            ("sort=height", "sort:"),
            ("dir=up", "dir:"),
            (
                "since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z",
                "until:",
            ),
            ("colour=red", "colour is not a dashboard parameter"),
        ] {
            match Filters::from_pairs(&pairs(query)).map_err(AppError::from) {
                Err(AppError::BadRequest(m)) => assert!(m.starts_with(name), "{query}: {m}"),
                other => panic!("{query}: {other:?}"),
            }
        }
    }

    fn row(name: &str, done: i64, gold: Option<f64>) -> AnnotatorRow {
        AnnotatorRow {
            user_id: None,
            name: name.into(),
            done,
            today: 0,
            median_seconds: None,
            agreement: None,
            gold_accuracy: gold,
            skip_rate: None,
            flags: Vec::new(),
        }
    }

    #[test]
    fn sorting_puts_missing_values_last_either_way() {
        let mut rows = vec![
            row("a", 1, None),
            row("b", 3, Some(0.5)),
            row("c", 2, Some(0.9)),
        ];
        let names = |rows: &[AnnotatorRow]| rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        sort(&mut rows, SortKey::Gold, true);
        assert_eq!(names(&rows), ["c", "b", "a"]);
        sort(&mut rows, SortKey::Gold, false);
        assert_eq!(names(&rows), ["b", "c", "a"]);
        sort(&mut rows, SortKey::Done, false);
        assert_eq!(names(&rows), ["a", "c", "b"]);
        sort(&mut rows, SortKey::Annotator, true);
        assert_eq!(names(&rows), ["c", "b", "a"]);
    }
}
