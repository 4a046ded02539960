//! `safepref demo`: a project with the PKU-SafeRLHF sample and an account
//! for each role, so a newcomer can try everything at once. Running it again
//! changes nothing.

use crate::accounts;
use crate::db::{Database, projects::Settings, users::Role};
use crate::import::{self, Options, Source};
use crate::projects;

pub const PROJECT_NAME: &str = "Demo: PKU-SafeRLHF sample";
/// 76 real records of PKU-SafeRLHF (CC BY-NC 4.0; see data/README.md).
const SAMPLE: &str = include_str!("../../../../data/pku-saferlhf-sample.jsonl");
const GUIDELINES: &str = include_str!("demo-guidelines.md");

const ACCOUNTS: [(&str, Role); 5] = [
    ("admin", Role::Admin),
    ("lead", Role::Lead),
    ("annotator1", Role::Annotator),
    ("annotator2", Role::Annotator),
    ("annotator3", Role::Annotator),
];

pub async fn run(database: &Database) -> anyhow::Result<()> {
    let pool = &database.pool;
    let mut made = Vec::new();
    for (username, role) in ACCOUNTS {
        if crate::db::users::find_by_username(pool, username)
            .await?
            .is_some()
        {
            continue;
        }
        let (user, password) = accounts::create(pool, None, username, role, "")
            .await
            .map_err(crate::error::AppError::from)?;
        made.push((user.username, role, password.unwrap_or_default()));
    }

    if crate::db::projects::find_by_name(pool, PROJECT_NAME)
        .await?
        .is_none()
    {
        let settings = Settings {
            name: PROJECT_NAME.into(),
            guidelines: GUIDELINES.into(),
            ..Settings::default()
        };
        // Worded by `AppError`, as the CLI always has (see `cli::export::run`).
        let project = projects::create(pool, None, settings)
            .await
            .map_err(crate::error::AppError::from)?;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("pku-saferlhf-sample.jsonl");
        std::fs::write(&path, SAMPLE)?;
        let reports = import::import_files(
            pool,
            &project,
            &[Source::from_path(&path)],
            None,
            Options::default(),
        )
        .await?;
        println!(
            "Created the project {PROJECT_NAME:?} with {} items.",
            reports[0].imported
        );
    } else {
        println!("The project {PROJECT_NAME:?} exists already.");
    }

    if made.is_empty() {
        println!("The demo accounts exist already; their passwords are unchanged.");
    } else {
        println!("Demo accounts (passwords shown only now):");
        for (username, role, password) in made {
            println!("  {username:<12} {:<10} {password}", role.as_str());
        }
    }
    Ok(())
}
