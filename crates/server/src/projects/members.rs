//! Managing who works on a project (issue 25), shared by the People section
//! of the project page, `safepref project access|members …` and the API:
//! its access (open or members only), adding members by username, removing
//! them, listing them. Each change and its audit entry commit together.
//!
//! A change that takes a project away from someone releases their live
//! leases there *after* it commits, one annotator at a time through the
//! queue (`queue::release_in_project`): releasing several annotators'
//! leases inside the change's transaction would hold item locks taken out
//! of id order (see the lock order in `queue`). Between the commit and the
//! release the lease is already useless to them (the project is hidden),
//! and a release that fails is finished by the lease's expiry.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::subject;
use crate::db::{self, members::Member, people::Person, projects::Access, projects::Project};
use crate::queue::{self, QueueError};

/// The most usernames one request may add, and the most search results.
pub const MAX_AT_ONCE: usize = 200;
pub const SEARCH_LIMIT: i64 = 50;

/// What went wrong managing a project's people.
#[derive(Debug, thiserror::Error)]
pub enum MembersError {
    /// Usernames that cannot be added, each problem named; nothing was added.
    #[error("nothing was added: {}", .0.join("; "))]
    CannotAdd(Vec<String>),
    #[error("give at least one username to add")]
    NoUsernames,
    #[error("at most {MAX_AT_ONCE} people can be added at once, not {0}")]
    TooMany(usize),
    #[error("{0:?} is not a member of this project")]
    NotMember(String),
    #[error("there is no user with this id")]
    NoSuchUser,
    #[error("there is no user named {0:?}")]
    NoUserNamed(String),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What changing a project's access did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessChange {
    pub before: Access,
    pub after: Access,
    /// Live leases of people who may no longer see the project, released.
    pub released: u64,
}

/// Sets the project's access, audited ("project access changed"); leases
/// held by people the new access shuts out are released.
pub async fn set_access(
    pool: &PgPool,
    actor: Option<Uuid>,
    project: &Project,
    access: Access,
) -> Result<AccessChange, MembersError> {
    let mut tx = pool.begin().await?;
    let before = db::projects::set_access(&mut *tx, project.id, access).await?;
    if before != access {
        db::audit::record(
            &mut *tx,
            actor,
            "project access changed",
            &subject(project.id),
            Some(json!({"access": before})),
            Some(json!({"access": access})),
        )
        .await?;
    }
    tx.commit().await?;
    let released = release_shut_out(pool, project).await?;
    Ok(AccessChange {
        before,
        after: access,
        released,
    })
}

/// How many live leases switching the project to `access` would release.
pub async fn leases_lost_by(
    pool: &PgPool,
    project: &Project,
    access: Access,
) -> Result<i64, MembersError> {
    let holders = db::people::leasing_without_access(pool, project.id, access).await?;
    Ok(holders.iter().map(|(_, n)| n).sum())
}

/// Releases the live leases of everyone who may not see the project now.
async fn release_shut_out(pool: &PgPool, project: &Project) -> Result<u64, MembersError> {
    let access = db::projects::find(pool, project.id)
        .await?
        .map_or(project.access, |p| p.access);
    let mut released = 0;
    for (annotator, _) in db::people::leasing_without_access(pool, project.id, access).await? {
        released += queue::release_in_project(pool, project, annotator).await?;
    }
    Ok(released)
}

/// What adding people did: who became a member, who was one already.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    pub added: Vec<String>,
    pub already: Vec<String>,
}

/// Adds annotators and leads as members, all or nothing: every username
/// that does not exist, is an admin's or a crowd worker's is named in one
/// refusal. One audit entry ("project member added") per new member.
pub async fn add(
    pool: &PgPool,
    actor: Option<Uuid>,
    project: &Project,
    usernames: &[String],
) -> Result<Added, MembersError> {
    let wanted = clean_usernames(usernames)?;
    let people = db::people::by_usernames(pool, &wanted).await?;
    check_addable(&wanted, &people)?;
    let mut outcome = Added::default();
    let mut tx = pool.begin().await?;
    for person in &people {
        if !db::members::add(&mut *tx, project.id, person.id, actor).await? {
            outcome.already.push(person.username.clone());
            continue;
        }
        db::audit::record(
            &mut *tx,
            actor,
            "project member added",
            &subject(project.id),
            None,
            Some(json!({"username": person.username, "user_id": person.id, "role": person.role})),
        )
        .await?;
        outcome.added.push(person.username.clone());
    }
    tx.commit().await?;
    Ok(outcome)
}

/// The usernames given, trimmed, without blanks or repeats, in order.
fn clean_usernames(usernames: &[String]) -> Result<Vec<String>, MembersError> {
    let mut wanted: Vec<String> = Vec::new();
    for name in usernames.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if !wanted.iter().any(|w| w == name) {
            wanted.push(name.to_string());
        }
    }
    match wanted.len() {
        0 => Err(MembersError::NoUsernames),
        n if n > MAX_AT_ONCE => Err(MembersError::TooMany(n)),
        _ => Ok(wanted),
    }
}

/// Every reason the people found for `wanted` cannot all become members.
fn check_addable(wanted: &[String], people: &[Person]) -> Result<(), MembersError> {
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|w| !people.iter().any(|p| &p.username == *w))
        .map(|w| format!("{w:?}"))
        .collect();
    let mut problems = Vec::new();
    if !unknown.is_empty() {
        problems.push(format!("no user is named {}", unknown.join(", ")));
    }
    for p in people {
        if p.role == db::users::Role::Admin {
            problems.push(format!(
                "{:?} is an admin, who sees every project without being a member",
                p.username
            ));
        } else if p.crowd_project_id.is_some() {
            problems.push(format!(
                "{:?} is a crowd worker, bound to the one project they joined by its link",
                p.username
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(MembersError::CannotAdd(problems))
    }
}

/// What removing a member did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub username: String,
    /// Their live leases in the project, released (if it is members only).
    pub released: u64,
}

/// Removes a member, audited ("project member removed"). Their annotations
/// stay and count; their live leases in the project are released when it
/// is members only (in an open project they may go on).
pub async fn remove(
    pool: &PgPool,
    actor: Option<Uuid>,
    project: &Project,
    user_id: Uuid,
) -> Result<Removed, MembersError> {
    let user = db::users::find(pool, user_id)
        .await?
        .ok_or(MembersError::NoSuchUser)?;
    let mut tx = pool.begin().await?;
    if !db::members::remove(&mut *tx, project.id, user.id).await? {
        return Err(MembersError::NotMember(user.username));
    }
    db::audit::record(
        &mut *tx,
        actor,
        "project member removed",
        &subject(project.id),
        Some(json!({"username": user.username, "user_id": user.id, "role": user.role})),
        None,
    )
    .await?;
    tx.commit().await?;
    let released = release_shut_out(pool, project).await?;
    Ok(Removed {
        username: user.username,
        released,
    })
}

/// [`remove`] by username (the command line).
pub async fn remove_named(
    pool: &PgPool,
    actor: Option<Uuid>,
    project: &Project,
    username: &str,
) -> Result<Removed, MembersError> {
    let user = db::users::find_by_username(pool, username)
        .await?
        .ok_or_else(|| MembersError::NoUserNamed(username.to_string()))?;
    remove(pool, actor, project, user.id).await
}

/// Every member of the project, by username.
pub async fn list(pool: &PgPool, project: &Project) -> Result<Vec<Member>, MembersError> {
    Ok(db::members::list(pool, project.id).await?)
}

/// One page of the project's members, and how many there are in all.
pub async fn page(
    pool: &PgPool,
    project: &Project,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Member>, i64), MembersError> {
    Ok(db::people::members_page(pool, project.id, offset, limit).await?)
}

/// Annotators and leads whose username starts with `prefix` who are not
/// members yet (at most [`SEARCH_LIMIT`]).
pub async fn search(
    pool: &PgPool,
    project: &Project,
    prefix: &str,
) -> Result<Vec<Person>, MembersError> {
    Ok(db::people::addable(pool, project.id, prefix.trim(), SEARCH_LIMIT).await?)
}

/// How many live leases `user_id` holds in the project.
pub async fn live_leases(
    pool: &PgPool,
    project: &Project,
    user_id: Uuid,
) -> Result<i64, MembersError> {
    Ok(db::people::live_leases(pool, project.id, user_id).await?)
}

/// The member `user_id` of the project (for the removal's confirmation).
pub async fn member(
    pool: &PgPool,
    project: &Project,
    user_id: Uuid,
) -> Result<Member, MembersError> {
    if let Some(m) = db::people::member(pool, project.id, user_id).await? {
        return Ok(m);
    }
    match db::users::find(pool, user_id).await? {
        Some(user) => Err(MembersError::NotMember(user.username)),
        None => Err(MembersError::NoSuchUser),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_kept_once() {
        let given = [" ann ", "", "bob", "ann"].map(String::from);
        assert_eq!(clean_usernames(&given).unwrap(), ["ann", "bob"]);
        assert!(matches!(
            clean_usernames(&[" ".into()]),
            Err(MembersError::NoUsernames)
        ));
        let many: Vec<String> = (0..=MAX_AT_ONCE).map(|i| format!("u{i}")).collect();
        assert!(matches!(
            clean_usernames(&many),
            Err(MembersError::TooMany(n)) if n == MAX_AT_ONCE + 1
        ));
    }
}
