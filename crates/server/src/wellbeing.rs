//! Looking after annotators who read harmful text all day: break reminders
//! and the daily cap (the project's `Wellbeing` settings). Blurring and
//! content notes are the annotation page's (templates, static/js).

use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::db::{self, projects::Project};

/// What keeps an annotator from more work today, or the database failing.
#[derive(Debug, thiserror::Error)]
pub enum WellbeingError {
    /// The project's daily cap is reached; more work waits until midnight
    /// UTC, `retry_after_seconds` from now.
    #[error(
        "You have labelled {done} items in this project today, its daily limit of {cap}. \
         Thank you, and please come back tomorrow."
    )]
    DailyCapReached {
        done: i64,
        cap: u32,
        retry_after_seconds: u64,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A pause this long between two submissions is a break: it ends a run of
/// work, and the break reminders count from the next submission.
pub const BREAK_GAP: Duration = Duration::minutes(10);

/// Submissions read to find the current run (a run longer than this is
/// counted as this long).
const RUN_LIMIT: i64 = 2_000;

/// A run of work long enough for a break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakDue {
    /// Items submitted in the run.
    pub items: usize,
    /// Whole minutes from the run's first submission to its last.
    pub minutes: i64,
}

/// Whether the newest submission completed another `every_items` items, or
/// crossed another `every_minutes` minutes, of the current run. `times` are
/// the annotator's submission times, newest first. A run is a sequence of
/// submissions with gaps under [`BREAK_GAP`], whose newest is less than
/// [`BREAK_GAP`] ago (else the annotator has had their break).
pub fn break_due(
    times: &[OffsetDateTime],
    now: OffsetDateTime,
    every_items: Option<u32>,
    every_minutes: Option<u32>,
) -> Option<BreakDue> {
    let newest = *times.first()?;
    if now - newest >= BREAK_GAP {
        return None;
    }
    let items = 1 + times
        .windows(2)
        .take_while(|pair| pair[0] - pair[1] < BREAK_GAP)
        .count();
    let start = times[items - 1];
    let minutes = (newest - start).whole_minutes();
    let by_items = every_items.is_some_and(|n| n > 0 && items % n as usize == 0);
    let by_minutes = every_minutes.is_some_and(|m| {
        let m = i64::from(m.max(1));
        // The newest submission is the first past a multiple of m minutes.
        items >= 2 && minutes / m > (times[1] - start).whole_minutes() / m
    });
    (by_items || by_minutes).then_some(BreakDue { items, minutes })
}

/// The break reminder for the annotator in the project, if one is due.
pub async fn break_reminder(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
) -> Result<Option<BreakDue>, WellbeingError> {
    let w = &project.wellbeing;
    if w.break_every_items.is_none() && w.break_every_minutes.is_none() {
        return Ok(None);
    }
    let times = db::annotations::submission_times(pool, project.id, annotator, RUN_LIMIT).await?;
    Ok(break_due(
        &times,
        OffsetDateTime::now_utc(),
        w.break_every_items,
        w.break_every_minutes,
    ))
}

/// Refuses more work once the annotator has done the project's daily cap
/// today (UTC), with the seconds until midnight UTC.
pub async fn check_daily_cap(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
) -> Result<(), WellbeingError> {
    let Some(cap) = project.wellbeing.daily_cap else {
        return Ok(());
    };
    let done = db::annotations::progress(pool, project.id, annotator)
        .await?
        .done_today;
    if done < i64::from(cap) {
        return Ok(());
    }
    let now = OffsetDateTime::now_utc();
    let midnight = (now.date() + Duration::days(1)).midnight().assume_utc();
    Err(WellbeingError::DailyCapReached {
        done,
        cap,
        retry_after_seconds: (midnight - now).whole_seconds().max(1) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes_ago: &[i64], now: OffsetDateTime) -> Vec<OffsetDateTime> {
        minutes_ago
            .iter()
            .map(|m| now - Duration::minutes(*m))
            .collect()
    }

    #[test]
    fn every_n_items_of_a_run() {
        let now = OffsetDateTime::now_utc();
        let due = |ago: &[i64]| break_due(&at(ago, now), now, Some(3), None);
        assert_eq!(due(&[]), None);
        assert_eq!(due(&[1, 2]), None);
        assert_eq!(
            due(&[1, 2, 3]),
            Some(BreakDue {
                items: 3,
                minutes: 2
            })
        );
        assert_eq!(due(&[1, 2, 3, 4]), None);
        // A gap of ten minutes was a break: the run is the newest two.
        assert_eq!(due(&[1, 2, 12, 13]), None);
        assert!(due(&[1, 2, 3, 20, 21]).is_some());
        // The newest submission is long ago: a break already.
        assert_eq!(due(&[11, 12, 13]), None);
    }

    #[test]
    fn every_m_minutes_of_a_run() {
        let now = OffsetDateTime::now_utc();
        let due = |ago: &[i64], m| break_due(&at(ago, now), now, None, Some(m));
        // Run from 17 minutes ago: 8 minutes in, then 16.
        assert_eq!(
            due(&[1, 9, 17], 15),
            Some(BreakDue {
                items: 3,
                minutes: 16
            })
        );
        assert_eq!(due(&[1, 9, 17], 30), None);
        // Already past 15 minutes at the previous submission: not again.
        assert_eq!(due(&[1, 3, 11, 19, 25], 15), None);
        assert!(due(&[1, 3, 11, 19, 25], 12).is_some());
        assert_eq!(due(&[1], 15), None);
    }
}
