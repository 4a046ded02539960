//! The report as a readable table, as `safepref report` prints it.

use serde_json::Value;

/// The report as a readable table.
pub fn text(report: &Value) -> String {
    let mut out = String::new();
    let number = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "—".to_string(), |x| format!("{x:.3}"))
    };
    out.push_str(&format!(
        "{}: {} items, {} annotations\n\n",
        report["scope"]["project"].as_str().unwrap_or_default(),
        report["items"],
        report["annotations"]
    ));
    question_table(
        &mut out,
        &report["questions"],
        ("fleiss", "fleiss_kappa"),
        &number,
    );
    out.push_str(&format!(
        "\n{:<32} {:>7} {:>9} {:>9} {:>6}\n",
        "harm category", "alpha", "pos.agr.", "neg.agr.", "units"
    ));
    if let Some(categories) = report["per_category"].as_object() {
        for (name, c) in categories {
            out.push_str(&format!(
                "{:<32} {:>7} {:>9} {:>9} {:>6}\n",
                name,
                number(&c["alpha"]),
                number(&c["positive_agreement"]),
                number(&c["negative_agreement"]),
                c["units"]
            ));
        }
    }
    out.push_str(&format!(
        "\n{:<24} {:>6} {:>10} {:>10} {:>9}\n",
        "annotator", "done", "consensus", "median s", "skips"
    ));
    for a in report["annotators"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<24} {:>6} {:>10} {:>10} {:>9}\n",
            a["annotator"].as_str().unwrap_or_default(),
            a["done"],
            number(&a["agreement_with_consensus"]),
            number(&a["median_seconds"]),
            number(&a["skip_rate"])
        ));
    }
    if let Some(modes) = report["suggestion_modes"].as_object() {
        let counts: Vec<String> = modes.iter().map(|(m, n)| format!("{m} {n}")).collect();
        out.push_str(&format!(
            "\nannotations by what annotators saw of suggestions: {}\n",
            counts.join(", ")
        ));
    }
    for (source, figures) in report["machine"].as_object().into_iter().flatten() {
        machine_text(&mut out, source, figures, &number);
    }
    out
}

/// A `questions` object as a table; `kappa` is (heading, key) of the kappa
/// shown.
fn question_table(
    out: &mut String,
    questions: &Value,
    kappa: (&str, &str),
    number: &dyn Fn(&Value) -> String,
) {
    out.push_str(&format!(
        "{:<14} {:<9} {:>7} {:>17} {:>7} {:>7} {:>6}\n",
        "question", "metric", "alpha", "95% CI", kappa.0, "agree", "units"
    ));
    for (name, q) in questions.as_object().into_iter().flatten() {
        let ci = match q["ci95"].as_array() {
            Some(pair) => format!("[{}, {}]", number(&pair[0]), number(&pair[1])),
            None => "—".into(),
        };
        out.push_str(&format!(
            "{:<14} {:<9} {:>7} {:>17} {:>7} {:>7} {:>6}\n",
            name,
            q["metric"].as_str().unwrap_or_default(),
            number(&q["alpha"]),
            ci,
            number(&q[kappa.1]),
            number(&q["percent_agreement"]),
            q["units"].to_string()
        ));
    }
}

/// One source's model-vs-people figures as text.
fn machine_text(out: &mut String, source: &str, m: &Value, number: &dyn Fn(&Value) -> String) {
    out.push_str(&format!(
        "\nmodel vs. people: {source}: {} items compared; {} disagreements with a confident majority, on {} items\n",
        m["items"], m["disagreements"], m["disagreeing_items"]
    ));
    question_table(out, &m["questions"], ("cohen", "cohen_kappa"), number);
    for field in ["safe", "severity"] {
        let confusion = &m["confusion"][field];
        let values: Vec<String> = confusion["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
            .collect();
        out.push_str(&format!(
            "{field}: people (rows) against {source} (columns)\n"
        ));
        out.push_str(&format!("{:>8}", ""));
        for v in &values {
            out.push_str(&format!(" {v:>7}"));
        }
        out.push('\n');
        for (v, row) in values
            .iter()
            .zip(confusion["counts"].as_array().into_iter().flatten())
        {
            out.push_str(&format!("{v:>8}"));
            for n in row.as_array().into_iter().flatten() {
                out.push_str(&format!(" {:>7}", n.to_string()));
            }
            out.push('\n');
        }
    }
}
