//! The computations of dashboard figures running in this process, at most
//! one per scope in this registry: a background recompute, the warmer's,
//! or a request's (a filtered scope's first view, `fresh=1`). A request
//! that must compute a scope already being computed from the same data
//! awaits that result rather than computing it again beside it on the same
//! cores, and a background recompute skips a scope being computed. Across
//! servers, the advisory lock of `db::dashboard::try_lock_recompute` still
//! keeps background recomputes apart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use tokio::sync::watch;
use uuid::Uuid;

use super::Agreement;

/// A scope of a project: (project, scope key).
pub type Scope = (Uuid, String);

/// What a computation has published: the fingerprint of the data it
/// started from (taken before computing), then its figures.
#[derive(Default)]
struct State {
    fingerprint: Option<String>,
    figures: Option<Arc<Agreement>>,
}

struct Entry {
    /// Tells this claim from a later one of the same scope.
    id: u64,
    state: watch::Receiver<State>,
}

static RUNNING: LazyLock<Mutex<HashMap<Scope, Entry>>> = LazyLock::new(Default::default);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn running() -> MutexGuard<'static, HashMap<Scope, Entry>> {
    // A poisoned map is still a valid map.
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// The right to compute a scope, which others may join; released when
/// dropped, however the computation ends (a failed or panicked one leaves
/// its joiners without figures: they compute their own).
pub struct Claim {
    scope: Scope,
    id: u64,
    state: watch::Sender<State>,
}

/// Claims a scope; `None` when a computation of it already runs here.
pub fn claim(scope: Scope) -> Option<Claim> {
    let mut running = running();
    if running.contains_key(&scope) {
        return None;
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (state, receiver) = watch::channel(State::default());
    running.insert(
        scope.clone(),
        Entry {
            id,
            state: receiver,
        },
    );
    Some(Claim { scope, id, state })
}

impl Claim {
    pub fn key(&self) -> &str {
        &self.scope.1
    }

    /// Publishes the fingerprint the computation starts from.
    pub fn started(&self, fingerprint: &str) {
        self.state
            .send_modify(|s| s.fingerprint = Some(fingerprint.to_string()));
    }

    /// Publishes the figures to whoever awaits them.
    pub fn done(&self, figures: &Agreement) {
        self.state
            .send_modify(|s| s.figures = Some(Arc::new(figures.clone())));
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut running = running();
        if running.get(&self.scope).is_some_and(|e| e.id == self.id) {
            running.remove(&self.scope);
        }
    }
}

/// A computation of a scope that has taken its fingerprint.
pub struct Running {
    pub fingerprint: String,
    state: watch::Receiver<State>,
}

/// The scope's running computation, once it has taken its fingerprint.
pub fn started(scope: &Scope) -> Option<Running> {
    let running = running();
    let entry = running.get(scope)?;
    let fingerprint = entry.state.borrow().fingerprint.clone()?;
    Some(Running {
        fingerprint,
        state: entry.state.clone(),
    })
}

impl Running {
    /// Its figures once computed; `None` when it failed.
    pub async fn figures(mut self) -> Option<Agreement> {
        let state = self.state.wait_for(|s| s.figures.is_some()).await.ok()?;
        state.figures.as_deref().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::Confusion;

    fn figures(n: u64) -> Agreement {
        Agreement {
            report: serde_json::json!({ "n": n }),
            trend: Vec::new(),
            confusion: Confusion {
                items_without_consensus: n,
                ..Confusion::default()
            },
        }
    }

    #[tokio::test]
    async fn a_scope_is_computed_once_and_joined_from_its_fingerprint() {
        let scope: Scope = (Uuid::new_v4(), "[]".into());
        let claimed = claim(scope.clone()).expect("a free scope");
        assert!(claim(scope.clone()).is_none(), "one computation per scope");
        assert!(started(&scope).is_none(), "no fingerprint taken yet");
        claimed.started("fp-1");
        let joined = started(&scope).expect("started");
        assert_eq!(joined.fingerprint, "fp-1");
        let waiting = tokio::spawn(joined.figures());
        tokio::task::yield_now().await;
        claimed.done(&figures(7));
        let got = waiting.await.unwrap().expect("the figures");
        assert_eq!(got.report, serde_json::json!({ "n": 7 }));
        assert_eq!(got.confusion.items_without_consensus, 7);
        // Joined after it finished, before it was released: still there.
        assert!(started(&scope).unwrap().figures().await.is_some());
        drop(claimed);
        assert!(started(&scope).is_none(), "released");
        assert!(claim(scope).is_some(), "free again");
    }

    #[tokio::test]
    async fn a_failed_computation_leaves_its_joiners_to_compute() {
        let scope: Scope = (Uuid::new_v4(), "[]".into());
        let claimed = claim(scope.clone()).unwrap();
        claimed.started("fp");
        let waiting = tokio::spawn(started(&scope).unwrap().figures());
        tokio::task::yield_now().await;
        drop(claimed);
        assert!(waiting.await.unwrap().is_none());
    }
}
