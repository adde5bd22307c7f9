//! `tailor evaluate --report FILE.html`: the offline evaluation as one self-contained HTML file
//! — inline style, inline SVG, no script, nothing fetched — with the charts the console draws:
//! metrics per recipe, the NDCG@k curve, coverage and popularity bias.

use std::fmt::Write;

use super::Report;

const COLORS: [&str; 8] = [
    "#2458c6", "#e07b00", "#18794e", "#8e44ad", "#b42318", "#0f8a9d", "#7a5c00", "#c2185b",
];

/// Metrics drawn per recipe: (Personalize's name, label).
const BARS: [(&str, &str); 5] = [
    ("normalized_discounted_cumulative_gain_at_10", "NDCG@10"),
    ("precision_at_10", "precision@10"),
    ("recall_at_10", "recall@10"),
    ("mean_reciprocal_rank_at_25", "MRR@25"),
    ("coverage", "coverage"),
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(i: usize) -> &'static str {
    COLORS[i % COLORS.len()]
}

/// Grouped bars: one group per metric, one bar per recipe, values in [0, max].
fn bars(reports: &[Report], metrics: &[(&str, &str)], id: &str) -> String {
    let (w, h, pad) = (720.0, 200.0, 30.0);
    let max = reports
        .iter()
        .flat_map(|r| {
            metrics
                .iter()
                .map(|(k, _)| r.metrics.get(*k).copied().unwrap_or(0.0))
        })
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let group = (w - 2.0 * pad) / metrics.len().max(1) as f64;
    let bar = ((group - 16.0) / reports.len().max(1) as f64).min(40.0);
    let mut s = format!(
        r#"<svg id="{id}" width="{w}" height="{}" viewBox="0 0 {w} {}" role="img">"#,
        h + 24.0,
        h + 24.0
    );
    for (g, (key, label)) in metrics.iter().enumerate() {
        for (i, r) in reports.iter().enumerate() {
            let v = r.metrics.get(*key).copied().unwrap_or(0.0);
            let bh = (h - pad) * v / max;
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{}"><title>{} {label}: {v:.4}</title></rect>"#,
                pad + g as f64 * group + i as f64 * bar,
                h - bh,
                bar - 2.0,
                color(i),
                escape(&r.recipe)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}">{label}</text>"#,
            pad + g as f64 * group,
            h + 16.0
        );
    }
    let _ = write!(s, r#"<text x="2" y="12">{max:.3}</text></svg>"#);
    s
}

/// One line per recipe: NDCG@k for k = 1..=25.
fn curve(reports: &[Report]) -> String {
    let (w, h, pad) = (720.0, 220.0, 34.0);
    let max = reports
        .iter()
        .flat_map(|r| r.curves.ndcg_at_k.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let x = |k: usize| pad + (w - 2.0 * pad) * (k as f64 - 1.0) / 24.0;
    let y = |v: f64| h - pad - (h - 2.0 * pad) * v / max;
    let mut s = format!(
        r#"<svg id="ndcg-curve" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">"#
    );
    let _ = write!(
        s,
        r##"<line x1="{pad}" y1="{0}" x2="{1}" y2="{0}" stroke="#999"/><text x="{pad}" y="{2}">k = 1</text><text x="{1}" y="{2}" text-anchor="end">25</text><text x="2" y="{3}">{max:.3}</text>"##,
        h - pad,
        w - pad,
        h - pad + 16.0,
        pad
    );
    for (i, r) in reports.iter().enumerate() {
        let points: Vec<String> = r
            .curves
            .ndcg_at_k
            .iter()
            .enumerate()
            .map(|(k, &v)| format!("{:.1},{:.1}", x(k + 1), y(v)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
            color(i),
            points.join(" "),
            escape(&r.recipe)
        );
    }
    s.push_str("</svg>");
    s
}

/// Popularity bias: per recipe, the mean popularity percentile of what it recommends, beside
/// that of what the users chose.
fn bias(reports: &[Report]) -> String {
    let (w, row) = (720.0, 26.0);
    let h = row * (reports.len() as f64 + 1.0) + 10.0;
    let mut s = format!(
        r#"<svg id="popularity-bias" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">"#
    );
    let scale = |p: f64| 200.0 + (w - 240.0) * p;
    let chosen = reports
        .first()
        .map_or(0.0, |r| r.curves.held_out_popularity);
    for (i, r) in reports.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let p = r.curves.recommended_popularity;
        let _ = write!(
            s,
            r#"<text x="0" y="{:.1}">{}</text><rect x="200" y="{y:.1}" width="{:.1}" height="16" fill="{}"><title>{p:.3}</title></rect>"#,
            y + 12.0,
            escape(&r.recipe),
            scale(p) - 200.0,
            color(i)
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{0:.1}" y1="4" x2="{0:.1}" y2="{1:.1}" stroke="#111" stroke-dasharray="4 3"/><text x="{0:.1}" y="{2:.1}">what users chose: {chosen:.3}</text></svg>"##,
        scale(chosen),
        h - 14.0,
        h - 2.0
    );
    s
}

/// The report page for `reports`, titled `title`.
pub fn html(reports: &[Report], title: &str) -> String {
    let mut rows = String::new();
    for (i, r) in reports.iter().enumerate() {
        let _ = write!(
            rows,
            r#"<tr><td><i style="background:{}"></i>{}</td><td>{:.1}</td><td>{}</td>"#,
            color(i),
            escape(&r.recipe),
            r.fit_seconds,
            r.users_evaluated
        );
        for (k, _) in BARS {
            let _ = write!(
                rows,
                "<td>{:.4}</td>",
                r.metrics.get(k).copied().unwrap_or(0.0)
            );
        }
        let _ = write!(rows, "<td>{:.3}</td></tr>", r.curves.recommended_popularity);
    }
    let heads: String = BARS.iter().map(|(_, l)| format!("<th>{l}</th>")).collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; color: #1d2433; margin: 1.5rem; max-width: 980px; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .3rem .6rem; border-bottom: 1px solid #d9dde5; text-align: left; }}
i {{ display: inline-block; width: .8rem; height: .8rem; margin-right: .4rem; }}
svg text {{ font: 11px system-ui, sans-serif; fill: #5d6677; }} h2 {{ margin-top: 2rem; }}
</style></head>
<body>
<h1>{title}</h1>
<p>The QUALITY.md protocol: each user's newest 20% of events held out (users with 5 or more), their training items excluded from the answers. Metric names are Personalize's.</p>
<table id="metrics"><thead><tr><th>recipe</th><th>fit s</th><th>users</th>{heads}<th>popularity of top 10</th></tr></thead><tbody>{rows}</tbody></table>
<h2>Metrics per recipe</h2>{}
<h2>NDCG@k</h2>{}
<h2>Coverage</h2><p>Share of the catalogue that appears in some user's top 10.</p>{}
<h2>Popularity bias</h2><p>Mean popularity percentile (1 = the most popular item) of the items each recipe puts in the top 10s, against that of the items the users went on to choose.</p>{}
</body></html>
"#,
        bars(reports, &BARS[..4], "metric-bars"),
        curve(reports),
        bars(reports, &BARS[4..], "coverage"),
        bias(reports),
        title = escape(title),
    )
}
