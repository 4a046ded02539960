//! Crowd workers on the annotation page: joined by the project's link,
//! leasing by loading the page and submitting its form, on two `safepref
//! serve` processes in turn.

use safepref_server::db::{self, projects::Project, users::User};
use safepref_server::projects;
use safepref_server::queue::SkipReason;
use safepref_tests::{Browser, ServerProcess, csrf_token_in};
use sqlx::PgPool;
use uuid::Uuid;

use super::world::{Leased, Submitted};

/// The workers' browsers, each pair sharing one cookie jar (cookies do not
/// tell ports apart), and the servers they talk to.
pub struct Crowd {
    _servers: [ServerProcess; 2],
    browsers: Vec<[Browser; 2]>,
    turn: usize,
}

impl Crowd {
    /// Opens the project's crowd link with `quota` items per worker and
    /// joins `count` workers through it, as their browsers would.
    pub async fn join(
        pool: &PgPool,
        db_url: &str,
        project: &Project,
        quota: i32,
        count: usize,
    ) -> (Vec<User>, Crowd) {
        let slug = format!("m{}", &Uuid::new_v4().simple().to_string()[..12]);
        let entry = projects::CrowdEntry {
            slug: slug.clone(),
            quota,
            completion_code: "DONE-4821".into(),
        };
        projects::set_crowd_entry(pool, None, project, entry, projects::EntryAction::Rotate)
            .await
            .unwrap();
        let token = projects::find(pool, project.id)
            .await
            .unwrap()
            .crowd_token
            .unwrap();
        let servers = [
            ServerProcess::start(db_url).await,
            ServerProcess::start(db_url).await,
        ];
        // Joins are throttled per address, counted in the database: this
        // schedule's workers are the only ones to count (earlier schedules
        // on the same database joined from the same address).
        sqlx::query("delete from crowd_joins")
            .execute(pool)
            .await
            .unwrap();
        let mut people = Vec::new();
        let mut browsers = Vec::new();
        for n in 0..count {
            let worker = format!("W-{n}-{}", &Uuid::new_v4().simple().to_string()[..6]);
            let link = format!("/p/{slug}/join?worker_id={worker}&study=model&token={token}");
            browsers.push(joined(&servers, &link, project.id).await);
            let id: Uuid = sqlx::query_scalar("select id from users where external_id = $1")
                .bind(&worker)
                .fetch_one(pool)
                .await
                .unwrap();
            people.push(db::users::find(pool, id).await.unwrap().unwrap());
        }
        let crowd = Crowd {
            _servers: servers,
            browsers,
            turn: 0,
        };
        (people, crowd)
    }

    /// The worker's browser on the next server in turn.
    fn browser(&mut self, who: usize) -> &Browser {
        self.turn += 1;
        &self.browsers[who][self.turn % 2]
    }

    /// Loads the annotation page: an item, the completion code, "nothing
    /// left" (or the daily limit), or a pause.
    pub async fn lease(&mut self, who: usize, project: Uuid) -> Result<Leased<Uuid>, String> {
        let response = self.browser(who).get(&format!("/annotate/{project}")).await;
        let status = response.status().as_u16();
        let page = response.text().await.unwrap_or_default();
        match status {
            403 => Ok(Leased::Paused),
            200 if page.contains("id=\"completion-code\"") => Ok(Leased::Completed),
            200 if page.contains("id=\"label-form\"") => Ok(Leased::Item {
                item: attribute(&page, "data-item=\"").parse().unwrap(),
                assignment: attribute(&page, "name=\"assignment_id\" value=\"")
                    .parse()
                    .unwrap(),
            }),
            200 if page.contains("daily limit") => Ok(Leased::Capped),
            200 => Ok(Leased::Nothing),
            _ => Err(format!("the annotation page answered {status}: {page}")),
        }
    }

    /// Posts the annotation form; whether it was stored is read from the
    /// database (the page answers with a redirect or the form again).
    pub async fn submit(
        &mut self,
        pool: &PgPool,
        who: usize,
        project: Uuid,
        assignment: Uuid,
        submission: Uuid,
    ) -> Result<Submitted, String> {
        let (assignment, submission) = (assignment.to_string(), submission.to_string());
        let fields = [
            ("assignment_id", assignment.as_str()),
            ("submission_id", submission.as_str()),
            ("seconds", "9"),
            ("r0_safe", "safe"),
            ("r1_safe", "safe"),
            ("helpful", "0"),
            ("harmless", "0"),
        ];
        let path = format!("/annotate/{project}/submit");
        let status = self
            .browser(who)
            .post(&path, &fields)
            .await
            .status()
            .as_u16();
        let stored: Option<Uuid> =
            sqlx::query_scalar("select id from annotations where submission_id = $1::uuid")
                .bind(&submission)
                .fetch_optional(pool)
                .await
                .unwrap();
        match (status, stored) {
            (303, Some(annotation)) => Ok(Submitted::Stored {
                annotation,
                next: None,
            }),
            (409, None) => Ok(Submitted::Refused),
            _ => Err(format!(
                "the page's submit answered {status}, stored {stored:?}"
            )),
        }
    }

    /// Ok(true) skipped, Ok(false) refused.
    pub async fn skip(
        &mut self,
        who: usize,
        project: Uuid,
        assignment: Uuid,
        reason: SkipReason,
    ) -> Result<bool, String> {
        let assignment = assignment.to_string();
        let fields = [
            ("assignment_id", assignment.as_str()),
            ("reason", reason.as_str()),
        ];
        let path = format!("/annotate/{project}/skip");
        match self
            .browser(who)
            .post(&path, &fields)
            .await
            .status()
            .as_u16()
        {
            303 => Ok(true),
            409 => Ok(false),
            status => Err(format!("the page's skip answered {status}")),
        }
    }
}

/// A worker's browsers on both servers, signed in by the join link, with
/// the form's CSRF token from a page that leases nothing.
async fn joined(servers: &[ServerProcess; 2], link: &str, project: Uuid) -> [Browser; 2] {
    let client = safepref_tests::client();
    let pair = [0, 1].map(|s| Browser {
        client: client.clone(),
        base: servers[s].base.clone(),
        csrf_token: None,
    });
    assert_eq!(pair[0].get(link).await.status(), 303, "joining by {link}");
    let guidelines = format!("/annotate/{project}/guidelines");
    let page = pair[0].get(&guidelines).await.text().await.unwrap();
    let csrf = csrf_token_in(&page);
    pair.map(|b| Browser {
        csrf_token: csrf.clone(),
        ..b
    })
}

/// The text after `marker` up to the next quote.
fn attribute<'a>(page: &'a str, marker: &str) -> &'a str {
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {page}"))
        + marker.len();
    page[at..].split('"').next().unwrap()
}
