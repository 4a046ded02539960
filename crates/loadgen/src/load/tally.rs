//! What the simulated annotators measured: latency per endpoint, errors by
//! kind, and the annotation ids the server acknowledged. Each annotator
//! keeps its own [`Tally`]; they are merged at the end (no shared lock on
//! the hot path).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use uuid::Uuid;

/// The API calls the annotators make, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    SignIn,
    Lease,
    Submit,
    /// The same submission again (a double click, a retry).
    Resubmit,
    Skip,
    SignOut,
    Project,
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::SignIn => "POST /session",
            Endpoint::Lease => "POST /projects/{id}/lease",
            Endpoint::Submit => "POST /assignments/{id}/submit",
            Endpoint::Resubmit => "POST /assignments/{id}/submit (repeat)",
            Endpoint::Skip => "POST /assignments/{id}/skip",
            Endpoint::SignOut => "DELETE /session",
            Endpoint::Project => "GET /projects/{id}",
        }
    }
}

#[derive(Debug, Default)]
pub struct Tally {
    /// Microseconds per call, per endpoint.
    pub latencies: BTreeMap<Endpoint, Vec<u32>>,
    /// Counts by kind (`"submit: 409 conflict"`, `"lease: connection"`, …).
    pub errors: BTreeMap<String, u64>,
    /// Annotations the server acknowledged within the run's duration.
    pub completed: u64,
    /// Every annotation id the server acknowledged (checked against the database).
    pub acknowledged: Vec<Uuid>,
    pub skips: u64,
    pub double_submits: u64,
    pub abandoned: u64,
    /// Leases answered 204 (nothing free for the annotator right now).
    pub empty_leases: u64,
    /// Annotators that gave up because their server stopped answering.
    pub lost_annotators: u64,
}

impl Tally {
    pub fn time(&mut self, endpoint: Endpoint, took: Duration) {
        let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        self.latencies.entry(endpoint).or_default().push(micros);
    }

    pub fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    pub fn merge(&mut self, other: Tally) {
        for (endpoint, mut times) in other.latencies {
            self.latencies
                .entry(endpoint)
                .or_default()
                .append(&mut times);
        }
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        self.completed += other.completed;
        self.acknowledged.extend(other.acknowledged);
        self.skips += other.skips;
        self.double_submits += other.double_submits;
        self.abandoned += other.abandoned;
        self.empty_leases += other.empty_leases;
        self.lost_annotators += other.lost_annotators;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// p50, p95, p99 and max of one endpoint, in milliseconds.
    pub fn percentiles(&self, endpoint: Endpoint) -> Option<Percentiles> {
        let mut times = self.latencies.get(&endpoint)?.clone();
        if times.is_empty() {
            return None;
        }
        times.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len());
            f64::from(times[rank - 1]) / 1000.0
        };
        Some(Percentiles {
            calls: times.len(),
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: at(1.0),
        })
    }
}

/// Latency figures of one endpoint, in milliseconds (nearest-rank).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub calls: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>8} calls  p50 {:>7.1} ms  p95 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
            self.calls, self.p50, self.p95, self.p99, self.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_over_merged_tallies() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        for ms in 1..=60 {
            a.time(Endpoint::Lease, Duration::from_millis(ms));
        }
        for ms in 61..=100 {
            b.time(Endpoint::Lease, Duration::from_millis(ms));
        }
        b.error("lease: 500 internal".into());
        a.error("lease: 500 internal".into());
        a.merge(b);
        let p = a.percentiles(Endpoint::Lease).unwrap();
        assert_eq!(
            (p.calls, p.p50, p.p95, p.p99, p.max),
            (100, 50.0, 95.0, 99.0, 100.0)
        );
        assert_eq!(a.errors["lease: 500 internal"], 2);
        assert_eq!(a.percentiles(Endpoint::Submit), None);
    }
}
