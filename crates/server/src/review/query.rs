//! The review queue's filters as the page's query string and the API's give
//! them (text, blank meaning "any"), read into a [`QueueFilter`]: one
//! reading for both, so they accept and refuse the same values with the
//! same words.

use std::str::FromStr;

use serde::Deserialize;

use super::{REASON_KINDS, ReviewError};
use crate::db::items::ItemState;
use crate::db::review::QueueFilter;

/// The queue's filters, as sent; empty values mean "any".
#[derive(Debug, Default, Clone, Deserialize)]
pub struct QueueQuery {
    pub batch: Option<String>,
    pub category: Option<String>,
    pub severity: Option<String>,
    pub status: Option<String>,
    pub annotator: Option<String>,
    pub reason: Option<String>,
}

/// A value, trimmed; None when it is absent or blank ("any").
pub fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

/// A whole number named `name` (a filter or a page number), if given.
pub fn whole_number<T: FromStr>(
    name: &str,
    value: &Option<String>,
) -> Result<Option<T>, ReviewError> {
    given(value)
        .map(|v| {
            v.parse().map_err(|_| {
                ReviewError::BadQuery(format!("{name} must be a whole number, not {v:?}"))
            })
        })
        .transpose()
}

impl QueueQuery {
    /// The filters given, (name, value) in the form's order: for links
    /// that keep them and for the form's fields.
    pub fn given(&self) -> Vec<(&'static str, String)> {
        [
            ("batch", &self.batch),
            ("category", &self.category),
            ("severity", &self.severity),
            ("status", &self.status),
            ("annotator", &self.annotator),
            ("reason", &self.reason),
        ]
        .into_iter()
        .filter_map(|(k, v)| given(v).map(|v| (k, v)))
        .collect()
    }

    /// The filter, or a refusal naming the value that cannot be one.
    pub fn filter(&self) -> Result<QueueFilter, ReviewError> {
        let status = given(&self.status)
            .map(|s| {
                s.parse::<ItemState>().map_err(|_| {
                    ReviewError::BadQuery(format!(
                        "status must be pending, complete or adjudicated (or empty for all open items), not {s:?}"
                    ))
                })
            })
            .transpose()?;
        let severity: Option<i32> = whole_number("severity", &self.severity)?;
        if severity.is_some_and(|s| !(0..=3).contains(&s)) {
            return Err(ReviewError::BadQuery(
                "severity must be 0 (safe) to 3 (severe)".into(),
            ));
        }
        let reason = given(&self.reason);
        if let Some(r) = &reason
            && !REASON_KINDS.contains(&r.as_str())
        {
            return Err(ReviewError::BadQuery(format!(
                "reason must be one of {} (or empty for any), not {r:?}",
                REASON_KINDS.join(", ")
            )));
        }
        Ok(QueueFilter {
            reason,
            batch: whole_number("batch", &self.batch)?,
            status,
            category: given(&self.category),
            severity,
            annotator: given(&self.annotator),
        })
    }
}
