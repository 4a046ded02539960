//! Watching over the embedded cluster while `safepref serve` runs: when its
//! PostgreSQL dies (kill -9, the out-of-memory killer), start it again.
//!
//! Every serving process sharing the data folder runs this loop; the
//! supervisor's file lock lets one of them restart the server and the others
//! then find it up. A start that fails (a full disk, a damaged folder) is
//! retried with a growing pause, up to [`SLOWEST`], and `/readyz` shows why.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Cluster;

/// How often a healthy cluster is looked at (a file read and a /proc lookup).
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The first pause after a failed start; it doubles up to [`SLOWEST`].
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// The pause between attempts once starting has failed several times.
const SLOWEST: Duration = Duration::from_secs(30);

/// Why the embedded database cannot be used now, when the supervisor knows:
/// shown by `/readyz` in place of the generic answer.
#[derive(Clone, Default)]
pub struct Outage(Arc<Mutex<Option<String>>>);

impl Outage {
    pub fn get(&self) -> Option<String> {
        self.0.lock().map(|o| o.clone()).unwrap_or(None)
    }

    fn set(&self, problem: Option<String>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = problem;
        }
    }
}

/// Runs until the task is aborted.
pub async fn watch(cluster: Cluster, outage: Outage) {
    let cluster = Arc::new(Mutex::new(cluster));
    let mut failures: u32 = 0;
    loop {
        tokio::time::sleep(pause_after(failures)).await;
        let handle = cluster.clone();
        let revived = tokio::task::spawn_blocking(move || match handle.lock() {
            Ok(mut cluster) => cluster.revive().map_err(|e| e.to_string()),
            Err(_) => Err("the supervisor's state was poisoned by a panic".into()),
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        match revived {
            Ok(false) => {}
            Ok(true) => {
                crate::db::connections_may_be_broken();
                tracing::warn!(
                    "the embedded PostgreSQL had stopped; it was started again (its crash recovery replayed the WAL)"
                );
            }
            Err(problem) => {
                failures += 1;
                let retry = pause_after(failures);
                tracing::error!(
                    attempt = failures,
                    "the embedded PostgreSQL is down and could not be started again; trying again in {} s: {problem}",
                    retry.as_secs_f32()
                );
                outage.set(Some(format!(
                    "the embedded PostgreSQL is down and could not be started again \
                     (attempt {failures}, next in {} s): {problem}",
                    retry.as_secs_f32()
                )));
                continue;
            }
        }
        if failures > 0 {
            tracing::info!(
                attempts = failures,
                "the embedded PostgreSQL is running again"
            );
        }
        failures = 0;
        outage.set(None);
    }
}

fn pause_after(failures: u32) -> Duration {
    if failures == 0 {
        return CHECK_EVERY;
    }
    (FIRST_RETRY * 2u32.saturating_pow(failures - 1)).min(SLOWEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_starts_are_retried_ever_more_slowly_up_to_a_limit() {
        let pauses: Vec<Duration> = (0..10).map(pause_after).collect();
        assert_eq!(pauses[0], CHECK_EVERY);
        assert_eq!(pauses[1], FIRST_RETRY);
        assert!(pauses[1..].windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(pauses[9], SLOWEST);
        assert_eq!(pause_after(u32::MAX), SLOWEST);
    }
}
