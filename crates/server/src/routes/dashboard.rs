//! A project's review dashboard (leads and admins): GET
//! /review/projects/{id}. Filters and the table's order live in the query
//! string, so a link shows the same view; the figures come from `dashboard`
//! and this module only formats them (numbers as `safepref report` prints
//! them: three decimals, "—" for a figure that cannot be computed).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Chrome;
use super::registry::Routes;
use crate::app::AppState;
use crate::auth::RequireLead;
use crate::dashboard::{
    self, Agreement, AnnotatorRow, BatchProgress, Filters, Pace, RoutingSavings, SortKey,
};
use crate::error::Result;
use crate::projects;
use crate::projects::Project;
use crate::svg::{self, Svg};

pub fn routes() -> Routes {
    Routes::default().get("/review/projects/{id}", page)
}

/// A figure as the report's text prints it.
fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_string(), |x| format!("{x:.3}"))
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_string(), |x| format!("{:.1} %", x * 100.0))
}

struct QuestionRow {
    name: String,
    metric: String,
    alpha: String,
    ci: String,
    fleiss: String,
    agreement: String,
    units: String,
    bar: Svg,
}

/// One source's model-vs-people figures.
struct MachineView {
    source: String,
    items: String,
    disagreements: String,
    disagreeing_items: String,
    /// The kappa column holds Cohen's kappa with the consensus.
    questions: Vec<QuestionRow>,
    /// (title, rows): safe / unsafe, then severity.
    confusions: Vec<(&'static str, ConfusionRows)>,
}

/// (the people's value, counts by the source's value).
type ConfusionRows = Vec<(String, Vec<String>)>;

struct CategoryRow {
    name: String,
    alpha: String,
    positive: String,
    negative: String,
    units: String,
}

struct TrendRow {
    batch: i32,
    alpha: String,
    ci: String,
    units: i64,
    bar: Svg,
}

struct SortHeader {
    label: &'static str,
    href: String,
    /// "ascending" / "descending" for the sorted column (aria-sort).
    sorted: Option<&'static str>,
}

struct AnnotatorView {
    href: Option<String>,
    name: String,
    done: i64,
    today: i64,
    median: String,
    agreement: String,
    gold: String,
    skip: String,
    flags: Vec<String>,
}

struct BatchOption {
    seq: i32,
    file_name: String,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    project_id: Uuid,
    project_name: String,
    active: Vec<(&'static str, String)>,
    batch_options: Vec<BatchOption>,
    since: String,
    until: String,
    annotators_filter: Vec<String>,
    sort: &'static str,
    dir: &'static str,
    overall: BatchProgress,
    batches: Vec<BatchProgress>,
    chart: Svg,
    chart_caption: String,
    pace: String,
    /// "2026-11-28 05:31 UTC" when the agreement figures are stale.
    stale_since: Option<String>,
    /// This view with `fresh=1`: the figures computed now.
    fresh_href: String,
    items: String,
    annotations: String,
    questions: Vec<QuestionRow>,
    categories: Vec<CategoryRow>,
    confusion: Vec<(u8, Vec<u64>)>,
    without_consensus: u64,
    machine: Vec<MachineView>,
    /// The routing rule in words, and what it saved.
    routing: Option<String>,
    trend: Vec<TrendRow>,
    trend_chart: Option<Svg>,
    headers: Vec<SortHeader>,
    annotators: Vec<AnnotatorView>,
}

async fn page(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(id): Path<Uuid>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<DashboardPage> {
    let filters = Filters::from_pairs(&pairs)?;
    let pool = &state.pool;
    let project = projects::find_for(pool, &session.user, id).await?;
    let now = OffsetDateTime::now_utc();
    let batch = filters.scope.batch;
    let view = dashboard::view(pool, &project, &filters, now).await?;
    let (progress, activity) = (view.progress, view.activity);
    let agreement = view.shown.figures;

    let chart_caption = format!(
        "Annotations per {} from {} to {} (UTC){}",
        activity.bucket,
        dashboard::rfc3339(activity.from),
        dashboard::rfc3339(activity.to),
        if filters.scope.annotators.is_empty() {
            ""
        } else {
            ", the chosen annotators only"
        }
    );
    let report = &agreement.report;
    Ok(DashboardPage {
        chrome: Chrome::new(Some(&session)),
        project_id: project.id,
        project_name: project.name.clone(),
        active: filters.scope_pairs(),
        batch_options: progress
            .all
            .iter()
            .map(|b| BatchOption {
                seq: b.seq,
                file_name: b.file_name.clone(),
                selected: batch == Some(b.seq),
            })
            .collect(),
        since: filters
            .scope
            .since
            .map(dashboard::rfc3339)
            .unwrap_or_default(),
        until: filters
            .scope
            .until
            .map(dashboard::rfc3339)
            .unwrap_or_default(),
        annotators_filter: filters.scope.annotators.clone(),
        sort: filters.sort.name(),
        dir: if filters.descending { "desc" } else { "asc" },
        overall: progress.overall,
        batches: progress.batches,
        chart: svg::bars(&chart_caption, &activity.points),
        chart_caption,
        pace: pace_line(&view.pace),
        stale_since: view
            .shown
            .stale_since
            .map(|t| format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute())),
        fresh_href: format!(
            "/review/projects/{}?{}&fresh=1",
            project.id,
            filters.query(filters.sort, filters.descending)
        ),
        items: report["items"].to_string(),
        annotations: report["annotations"].to_string(),
        questions: question_rows(&report["questions"], "fleiss_kappa"),
        machine: machine_views(report),
        routing: routing_line(&project, view.routing),
        categories: category_rows(report),
        confusion: (0u8..4)
            .map(|s| (s, agreement.confusion.counts[usize::from(s)].to_vec()))
            .collect(),
        without_consensus: agreement.confusion.items_without_consensus,
        trend_chart: trend_chart(&agreement),
        trend: trend_rows(&agreement),
        headers: headers(project.id, &filters),
        annotators: view
            .annotators
            .into_iter()
            .map(|a| annotator_view(project.id, a))
            .collect(),
    })
}

/// The expected finish in words.
fn pace_line(pace: &Pace) -> String {
    match (pace.hours_left, pace.finish) {
        _ if pace.remaining == 0 => "Nothing left to annotate.".to_string(),
        (Some(hours), Some(finish)) => format!(
            "{} annotations still needed; at the last 24 hours' pace ({} annotations) that is about {:.1} hours: around {} {:02}:{:02} UTC.",
            pace.remaining,
            pace.last_day,
            hours,
            finish.date(),
            finish.hour(),
            finish.minute()
        ),
        _ => format!(
            "{} annotations still needed; not enough recent work to estimate the finish (none in the last 24 hours).",
            pace.remaining
        ),
    }
}

fn ci_text(ci: &Value) -> String {
    match ci.as_array() {
        Some(pair) if pair.len() == 2 => format!(
            "[{}, {}]",
            number(pair[0].as_f64()),
            number(pair[1].as_f64())
        ),
        _ => "—".into(),
    }
}

/// The rows of a report's `questions` object; `kappa` names the kappa
/// shown (Fleiss' for the people, Cohen's for a source).
fn question_rows(questions: &Value, kappa: &str) -> Vec<QuestionRow> {
    let Some(questions) = questions.as_object() else {
        return Vec::new();
    };
    questions
        .iter()
        .map(|(name, q)| {
            let ci = q["ci95"]
                .as_array()
                .and_then(|p| Some((p.first()?.as_f64()?, p.get(1)?.as_f64()?)));
            QuestionRow {
                name: name.clone(),
                metric: q["metric"].as_str().unwrap_or_default().to_string(),
                alpha: number(q["alpha"].as_f64()),
                ci: ci_text(&q["ci95"]),
                fleiss: number(q[kappa].as_f64()),
                agreement: number(q["percent_agreement"].as_f64()),
                units: q["units"].to_string(),
                bar: svg::interval(q["alpha"].as_f64(), ci),
            }
        })
        .collect()
}

/// A confusion of the report's machine section as rows: (the people's
/// value, counts by the source's value).
fn confusion_rows(confusion: &Value) -> ConfusionRows {
    let values = confusion["values"].as_array().cloned().unwrap_or_default();
    let rows = confusion["counts"].as_array().cloned().unwrap_or_default();
    values
        .iter()
        .zip(rows)
        .map(|(v, row)| {
            let label = v.as_str().map_or_else(|| v.to_string(), String::from);
            let counts = row.as_array().into_iter().flatten().map(Value::to_string);
            (label, counts.collect())
        })
        .collect()
}

fn machine_views(report: &Value) -> Vec<MachineView> {
    let Some(sources) = report["machine"].as_object() else {
        return Vec::new();
    };
    sources
        .iter()
        .map(|(source, m)| MachineView {
            source: source.clone(),
            items: m["items"].to_string(),
            disagreements: m["disagreements"].to_string(),
            disagreeing_items: m["disagreeing_items"].to_string(),
            questions: question_rows(&m["questions"], "cohen_kappa"),
            confusions: vec![
                ("Safe / unsafe", confusion_rows(&m["confusion"]["safe"])),
                ("Severity", confusion_rows(&m["confusion"]["severity"])),
            ],
        })
        .collect()
}

/// "k = 1 when <source>'s score is at least <t> …", and what the rule
/// saved; None when the project routes nothing.
fn routing_line(project: &Project, saved: Option<RoutingSavings>) -> Option<String> {
    let (rule, saved) = (project.suggestions.routing.as_ref()?, saved?);
    let k = project.annotations_per_item;
    Some(format!(
        "k = 1 when {}'s score is at least {} on every safety verdict and preference and the first person agrees; otherwise k = {k}. \
         Finished early so far: {} items, saving {} human annotations.",
        rule.source, rule.threshold, saved.routed_items, saved.annotations_saved
    ))
}

fn category_rows(report: &Value) -> Vec<CategoryRow> {
    let Some(categories) = report["per_category"].as_object() else {
        return Vec::new();
    };
    categories
        .iter()
        .map(|(name, c)| CategoryRow {
            name: name.clone(),
            alpha: number(c["alpha"].as_f64()),
            positive: number(c["positive_agreement"].as_f64()),
            negative: number(c["negative_agreement"].as_f64()),
            units: c["units"].to_string(),
        })
        .collect()
}

fn trend_rows(agreement: &Agreement) -> Vec<TrendRow> {
    agreement
        .trend
        .iter()
        .map(|p| TrendRow {
            batch: p.batch,
            alpha: number(p.alpha),
            ci: p.ci95.map_or_else(
                || "—".to_string(),
                |(lo, hi)| format!("[{}, {}]", number(Some(lo)), number(Some(hi))),
            ),
            units: p.units,
            bar: svg::interval(p.alpha, p.ci95),
        })
        .collect()
}

/// A line only when there is more than one batch to compare.
fn trend_chart(agreement: &Agreement) -> Option<Svg> {
    (agreement.trend.len() > 1).then(|| {
        let points: Vec<(String, Option<f64>)> = agreement
            .trend
            .iter()
            .map(|p| (format!("batch {}", p.batch), p.alpha))
            .collect();
        svg::line("Alpha of safe per batch", &points)
    })
}

/// Column headers that sort the table: the sorted column flips direction,
/// another starts with its natural order (names A→Z, figures high→low).
fn headers(project: Uuid, filters: &Filters) -> Vec<SortHeader> {
    SortKey::ALL
        .into_iter()
        .map(|key| {
            let current = key == filters.sort;
            let descending = if current {
                !filters.descending
            } else {
                key != SortKey::Annotator
            };
            SortHeader {
                label: key.label(),
                href: format!(
                    "/review/projects/{project}?{}",
                    filters.query(key, descending)
                ),
                sorted: current.then_some(if filters.descending {
                    "descending"
                } else {
                    "ascending"
                }),
            }
        })
        .collect()
}

fn annotator_view(project: Uuid, a: AnnotatorRow) -> AnnotatorView {
    AnnotatorView {
        href: a
            .user_id
            .map(|user| format!("/review/projects/{project}/annotators/{user}")),
        median: a
            .median_seconds
            .map_or_else(|| "—".to_string(), |s| format!("{s:.1}")),
        agreement: number(a.agreement),
        gold: number(a.gold_accuracy),
        skip: percent(a.skip_rate),
        name: a.name,
        done: a.done,
        today: a.today,
        flags: a.flags,
    }
}
