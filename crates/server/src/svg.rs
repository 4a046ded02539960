//! Tiny server-side SVG charts for the dashboard. The page's CSP allows no
//! inline script or style, so charts are plain elements with presentation
//! attributes (which CSP does not govern). Every piece of text is escaped
//! here: an [`Svg`] can only be made by this module, which is why a template
//! may print one unescaped (`|safe`) and nothing else.

use std::fmt::{self, Write};

/// Markup made by this module (and only by it), safe to print as is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Svg(String);

impl fmt::Display for Svg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// XML text and attribute escaping.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const BAR: &str = "#2f5da8";
const AXIS: &str = "#8a93a3";

/// A bar chart of counts: one bar per `(label, count)`, each with a tooltip
/// (`<title>`); the first and last labels under the axis and the largest
/// count beside it. `title` is the chart's accessible name.
pub fn bars(title: &str, points: &[(String, i64)]) -> Svg {
    let (width, height, left, bottom) = (720.0, 160.0, 40.0, 20.0);
    let plot_h = height - bottom - 10.0;
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    let step = (width - left) / points.len().max(1) as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{}"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    let base = height - bottom;
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{base}" x2="{width}" y2="{base}" stroke="{AXIS}"/><text x="{}" y="16" font-size="11" text-anchor="end" fill="{AXIS}">{}</text>"#,
        left - 4.0,
        max as i64
    );
    for (n, (label, count)) in points.iter().enumerate() {
        let h = plot_h * (*count as f64) / max;
        let x = left + step * n as f64;
        let _ = write!(
            s,
            r#"<rect x="{x:.2}" y="{:.2}" width="{:.2}" height="{h:.2}" fill="{BAR}"><title>{}: {count}</title></rect>"#,
            base - h,
            (step * 0.85).max(0.5),
            escape(label)
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            s,
            r#"<text x="{left}" y="{height}" font-size="11" fill="{AXIS}">{}</text><text x="{width}" y="{height}" font-size="11" text-anchor="end" fill="{AXIS}">{}</text>"#,
            escape(&first.0),
            escape(&last.0)
        );
    }
    s.push_str("</svg>");
    Svg(s)
}

/// Where a value in [-1, 1] (alpha's range that matters) falls on a bar of
/// `width` pixels.
fn scale(value: f64, width: f64) -> f64 {
    (value.clamp(-1.0, 1.0) + 1.0) / 2.0 * width
}

/// A small interval bar: the 95 % interval as a band, the estimate as a
/// tick, zero as a faint line; on the alpha scale [-1, 1].
pub fn interval(estimate: Option<f64>, ci: Option<(f64, f64)>) -> Svg {
    let (w, h) = (120.0, 14.0);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-hidden="true"><line x1="{z}" y1="0" x2="{z}" y2="{h}" stroke="{AXIS}" stroke-dasharray="2 2"/>"#,
        z = scale(0.0, w)
    );
    if let Some((lo, hi)) = ci {
        let (a, b) = (scale(lo, w), scale(hi, w));
        let _ = write!(
            s,
            r#"<rect x="{a:.2}" y="4" width="{:.2}" height="6" fill="{BAR}" opacity="0.35"/>"#,
            (b - a).max(1.0)
        );
    }
    if let Some(x) = estimate {
        let _ = write!(
            s,
            r#"<rect x="{:.2}" y="1" width="2" height="12" fill="{BAR}"/>"#,
            scale(x, w) - 1.0
        );
    }
    s.push_str("</svg>");
    Svg(s)
}

/// A line chart of values in [-1, 1] (alpha per batch): a point per
/// `(label, value)` joined by lines; missing values break the line.
pub fn line(title: &str, points: &[(String, Option<f64>)]) -> Svg {
    let (width, height, left, bottom) = (720.0, 140.0, 40.0, 20.0);
    let plot_h = height - bottom - 10.0;
    let y = |v: f64| 10.0 + plot_h * (1.0 - (v.clamp(-1.0, 1.0) + 1.0) / 2.0);
    let step = (width - left - 10.0) / (points.len().max(2) - 1) as f64;
    let x = |n: usize| left + step * n as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{}"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    for mark in [1.0, 0.0, -1.0] {
        let _ = write!(
            s,
            r#"<line x1="{left}" y1="{y:.2}" x2="{width}" y2="{y:.2}" stroke="{AXIS}" stroke-dasharray="2 3"/><text x="{}" y="{:.2}" font-size="11" text-anchor="end" fill="{AXIS}">{mark}</text>"#,
            left - 4.0,
            y(mark) + 4.0,
            y = y(mark)
        );
    }
    let mut path = String::new();
    let mut pen_down = false;
    for (n, (_, value)) in points.iter().enumerate() {
        match value {
            Some(v) => {
                let _ = write!(
                    path,
                    "{}{:.2} {:.2} ",
                    if pen_down { "L" } else { "M" },
                    x(n),
                    y(*v)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = write!(
            s,
            r#"<path d="{}" fill="none" stroke="{BAR}" stroke-width="2"/>"#,
            path.trim_end()
        );
    }
    for (n, (label, value)) in points.iter().enumerate() {
        if let Some(v) = value {
            let _ = write!(
                s,
                r#"<circle cx="{:.2}" cy="{:.2}" r="3" fill="{BAR}"><title>{}: {v:.3}</title></circle>"#,
                x(n),
                y(*v),
                escape(label)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.2}" y="{height}" font-size="11" text-anchor="middle" fill="{AXIS}">{}</text>"#,
            x(n),
            escape(label)
        );
    }
    s.push_str("</svg>");
    Svg(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        let hostile = r#"<script>alert("x")</script>&'"#;
        for svg in [
            bars(hostile, &[(hostile.to_string(), 3)]),
            line(hostile, &[(hostile.to_string(), Some(0.5))]),
        ] {
            let markup = svg.to_string();
            assert!(!markup.contains("<script"), "{markup}");
            assert!(markup.contains("&lt;script&gt;alert(&quot;x&quot;)"));
        }
    }

    #[test]
    fn bars_scale_to_the_largest_count() {
        let svg = bars("t", &[("a".into(), 0), ("b".into(), 10), ("c".into(), 5)]).to_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains(r#"height="130.00""#),
            "the largest bar fills the plot: {svg}"
        );
        assert!(svg.contains(r#"height="65.00""#), "half: {svg}");
        assert!(
            svg.contains(r#"height="0.00""#),
            "an hour without work is a zero bar"
        );
    }

    #[test]
    fn interval_places_estimate_and_band() {
        let svg = interval(Some(0.5), Some((0.0, 1.0))).to_string();
        assert!(svg.contains(r#"x="60.00" y="4" width="60.00""#), "{svg}");
        assert!(svg.contains(r#"x="89.00""#), "{svg}");
        assert!(!interval(None, None).to_string().contains("<rect"));
    }

    #[test]
    fn a_missing_value_breaks_the_line() {
        let svg = line(
            "t",
            &[
                ("1".into(), Some(0.5)),
                ("2".into(), None),
                ("3".into(), Some(0.7)),
            ],
        )
        .to_string();
        assert_eq!(svg.matches('M').count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
    }
}
