//! Probes for load balancers and orchestrators.

use std::time::Duration;

use axum::extract::State;

use super::registry::Routes;
use crate::app::AppState;
use crate::error::AppError;

pub fn routes() -> Routes {
    Routes::default()
        .get("/healthz", healthz)
        .get("/readyz", readyz)
}

/// The process is alive and answering.
async fn healthz() -> &'static str {
    "ok"
}

/// The process can reach its database. While the embedded cluster's
/// supervisor cannot start it, the answer says why.
async fn readyz(State(state): State<AppState>) -> Result<&'static str, AppError> {
    if let Some(problem) = state.outage.get() {
        return Err(AppError::UnavailableBecause(problem));
    }
    let ping = async {
        if crate::db::ping(&state.pool).await.is_ok() {
            return Ok(());
        }
        // Perhaps a connection from before a restart: with the others now
        // pinged before use, a second try says whether the database is up.
        crate::db::connections_may_be_broken();
        crate::db::ping(&state.pool).await
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => Ok("ready"),
        _ => Err(AppError::Unavailable),
    }
}
