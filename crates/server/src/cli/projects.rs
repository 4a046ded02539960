//! `safepref project …` and `safepref import`.

use anyhow::Context;
use safepref_core::taxonomy::Taxonomy;

use super::{ImportArgs, MembersCommand, ProjectCommand, TaxonomyArg};
use crate::db::{
    self, Database,
    projects::{Access, Project, Settings},
};
use crate::error::AppError;
use crate::import::{self, Options, Source};
use crate::projects::{self, members};

pub async fn run(database: &Database, command: ProjectCommand) -> anyhow::Result<()> {
    let pool = &database.pool;
    match command {
        ProjectCommand::Create {
            name,
            responses,
            overlap,
            taxonomy,
            lease_minutes,
            guidelines,
            access,
        } => {
            let guidelines = match guidelines {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => String::new(),
            };
            let taxonomy = match taxonomy {
                TaxonomyArg::Pku19 => Taxonomy::pku19(),
                TaxonomyArg::Beavertails14 => Taxonomy::beavertails14(),
            };
            let settings = Settings {
                name,
                guidelines,
                responses_per_item: responses,
                annotations_per_item: overlap,
                lease_seconds: lease_minutes.saturating_mul(60),
                taxonomy,
                ..Settings::default()
            };
            // Worded by `AppError`, as the CLI always has: a database that is down
            // says so, an internal failure is "an internal error occurred: …".
            let project = projects::create(pool, None, settings)
                .await
                .map_err(AppError::from)?;
            if access != Access::Open {
                members::set_access(pool, None, &project, access)
                    .await
                    .map_err(AppError::from)?;
            }
            println!(
                "Created project {:?}: K = {} responses per item, k = {} annotations per item, {} categories, {}.",
                project.name,
                project.responses_per_item,
                project.annotations_per_item,
                project.taxonomy.categories.len(),
                access_words(access)
            );
        }
        ProjectCommand::Access { project, access } => {
            let project = projects::find_by_name(pool, &project)
                .await
                .map_err(AppError::from)?;
            let change = members::set_access(pool, None, &project, access)
                .await
                .map_err(AppError::from)?;
            if change.before == change.after {
                println!(
                    "{:?} was already {}; nothing changed.",
                    project.name,
                    access_words(access)
                );
            } else {
                println!(
                    "{:?} is now {}; {} live lease(s) of people who are not members released.",
                    project.name,
                    access_words(access),
                    change.released
                );
            }
        }
        ProjectCommand::Members(command) => run_members(pool, command).await?,
        ProjectCommand::List => {
            let summaries = db::projects::summaries(pool, None).await?;
            if summaries.is_empty() {
                println!("No projects yet: create one with `safepref project create --name NAME`.");
                return Ok(());
            }
            println!(
                "{:<40} {:<8} {:>3} {:>3} {:>8} {:>9} {:>9}",
                "name", "access", "K", "k", "batches", "items", "complete"
            );
            for p in summaries {
                println!(
                    "{:<40} {:<8} {:>3} {:>3} {:>8} {:>9} {:>9}",
                    p.name,
                    p.access.as_str(),
                    p.responses_per_item,
                    p.annotations_per_item,
                    p.batches,
                    p.items,
                    p.complete
                );
            }
        }
    }
    Ok(())
}

/// Access in words, as the CLI prints it.
fn access_words(access: Access) -> &'static str {
    match access {
        Access::Open => "open to every annotator and lead",
        Access::Members => "members only",
    }
}

/// `safepref project members add|remove|list`.
async fn run_members(pool: &sqlx::PgPool, command: MembersCommand) -> anyhow::Result<()> {
    let named = |name: &str| {
        let name = name.to_string();
        async move {
            projects::find_by_name(pool, &name)
                .await
                .map_err(AppError::from)
        }
    };
    match command {
        MembersCommand::Add { project, usernames } => {
            let project = named(&project).await?;
            let added = members::add(pool, None, &project, &usernames)
                .await
                .map_err(AppError::from)?;
            if !added.added.is_empty() {
                println!("Added to {:?}: {}.", project.name, added.added.join(", "));
            }
            if !added.already.is_empty() {
                println!("Members already: {}.", added.already.join(", "));
            }
        }
        MembersCommand::Remove { project, usernames } => {
            let project = named(&project).await?;
            for username in &usernames {
                let removed = members::remove_named(pool, None, &project, username)
                    .await
                    .map_err(AppError::from)?;
                println!(
                    "Removed {:?} from {:?} ({} live lease(s) released; their annotations stay).",
                    removed.username, project.name, removed.released
                );
            }
        }
        MembersCommand::List { project } => {
            let project = named(&project).await?;
            print_members(
                &project,
                &members::list(pool, &project)
                    .await
                    .map_err(AppError::from)?,
            );
        }
    }
    Ok(())
}

fn print_members(project: &Project, list: &[crate::db::members::Member]) {
    println!("{:?} is {}.", project.name, access_words(project.access));
    if list.is_empty() {
        println!(
            "No members: add them with `safepref project members add --project NAME USER...`."
        );
        return;
    }
    println!("{:<32} {:<10} {:<9} added", "username", "role", "state");
    for m in list {
        let state = if m.disabled { "disabled" } else { "active" };
        println!(
            "{:<32} {:<10} {:<9} {}",
            m.username,
            m.role.as_str(),
            state,
            m.added_at.date()
        );
    }
}

pub async fn import(database: &Database, args: ImportArgs) -> anyhow::Result<()> {
    let project = projects::find_by_name(&database.pool, &args.project)
        .await
        .map_err(AppError::from)?;
    if args.suggestions {
        return import_suggestions(database, &project, &args.files).await;
    }
    let sources: Vec<Source> = args.files.iter().map(|p| Source::from_path(p)).collect();
    let options = Options {
        allow_empty: args.allow_empty,
        accept_hash_mismatch: args.accept_hash_mismatch,
        allow_duplicates: args.allow_duplicates,
    };
    let started = std::time::Instant::now();
    let reports = import::import_files(&database.pool, &project, &sources, None, options).await?;
    let seconds = started.elapsed().as_secs_f64();
    let mut total = 0;
    for r in &reports {
        total += r.imported;
        println!(
            "{}: batch {} — {} rows read, {} items imported, {} duplicates skipped{}",
            r.file_name,
            r.batch_seq,
            r.rows_read,
            r.imported,
            r.duplicates_skipped,
            if r.hash_mismatches > 0 {
                format!(
                    ", {} with a stored sha256 that did not match (exports will carry the recomputed hash)",
                    r.hash_mismatches
                )
            } else {
                String::new()
            }
        );
    }
    println!(
        "Imported {total} items into {:?} in {seconds:.2} s ({:.0} items/s).",
        project.name,
        total as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// `import --suggestions`: side files of machine suggestions, each all or
/// nothing.
async fn import_suggestions(
    database: &Database,
    project: &Project,
    files: &[std::path::PathBuf],
) -> anyhow::Result<()> {
    for path in files {
        let report =
            crate::suggestions::import_side_file(&database.pool, project, None, path).await?;
        println!(
            "{}: {} suggestions stored ({} replaced an earlier one of the same source)",
            path.display(),
            report.rows,
            report.replaced
        );
    }
    Ok(())
}
