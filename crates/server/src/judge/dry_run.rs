//! `--dry-run`: the first request and the checked answers for a few items,
//! with nothing stored (not the run, the template or the failures).

use safepref_core::judge;
use safepref_core::suggestions::Suggestion;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::JudgeError;
use super::client::ChatClient;
use super::run::{Plan, render, scores};
use crate::db;

/// What `--dry-run` shows: the first request, and per item the parsed
/// answer or why it was refused. Nothing is stored.
pub struct DryRun {
    pub source: String,
    pub first_request: Option<Value>,
    pub answers: Vec<(Uuid, DryAnswer)>,
}

/// An item's checked suggestion and where its scores came from, or why
/// there is none.
pub type DryAnswer = Result<(Suggestion, &'static str), String>;

/// Asks about the first `items` pending items and stores nothing (not the
/// run, not the template, not the failures).
pub async fn dry_run(
    pool: &PgPool,
    client: &ChatClient,
    plan: &Plan,
    items: i64,
) -> Result<DryRun, JudgeError> {
    let source = plan.check(pool).await?;
    let ids =
        db::judge::pending_items(pool, plan.project.id, plan.batch, &source, Some(items)).await?;
    let schema = judge::answer_schema(&plan.context());
    let mut dry = DryRun {
        source: source.clone(),
        first_request: None,
        answers: Vec::new(),
    };
    for id in ids {
        let Some((prompt, responses)) = db::judge::item_text(pool, id).await? else {
            continue;
        };
        let messages = render(plan, &prompt, &responses);
        dry.first_request
            .get_or_insert_with(|| client.body(&messages, &schema));
        let (result, _) = client.complete(&messages, &schema).await;
        let answer = result.map_err(|e| e.to_string()).and_then(|completion| {
            let answer = judge::parse_answer(&completion.text, &plan.context())
                .map_err(|e| format!("{}: {}\n{}", e.kind.as_str(), e.message, completion.text))?;
            let (scores, from) = scores(&completion, &answer);
            Ok((
                Suggestion {
                    source: source.clone(),
                    labels: answer.labels,
                    scores,
                },
                from,
            ))
        });
        dry.answers.push((id, answer));
    }
    Ok(dry)
}
