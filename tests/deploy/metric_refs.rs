//! Every metric name the alert rules and the dashboard query, so they can be checked against
//! the catalogue (`docs/metrics.md`) here and against a live `/metrics` scrape elsewhere.
//!
//! The PromQL scanner is deliberately small: it drops string literals, label matchers
//! (`{…}`), range selectors (`[…]`), the label lists of `by`/`without`/`on`/`ignoring`/
//! `group_left`/`group_right`, function names (an identifier followed by `(`), keywords,
//! aggregation operators and Grafana variables; what is left are metric names.

use std::collections::BTreeSet;

use crate::support::{read, seq, str_at, yaml};

/// Series Prometheus makes up itself rather than scraping.
pub const BUILT_IN: &[&str] = &["up"];

/// Keywords, and aggregation operators (which may be followed by `by (…)` instead of `(`).
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
];

/// The metric names in one PromQL expression.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_label_list = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    i += 1;
                }
                i += 1;
            }
            '(' if skip_label_list => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                skip_label_list = false;
                i += 1;
            }
            '$' => {
                // A Grafana variable such as $__rate_interval.
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // Numbers and durations (5m, 0.99, 1e3).
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                let lower = word.to_lowercase();
                if [
                    "by",
                    "without",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                ]
                .contains(&lower.as_str())
                {
                    skip_label_list = true;
                } else if next != Some(&'(') && !KEYWORDS.contains(&lower.as_str()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The expressions of every rule in `deploy/prometheus/alerts.yml`.
pub fn alert_expressions() -> Vec<(String, String)> {
    let rules = yaml("deploy/prometheus/alerts.yml");
    seq(&rules, &["groups"])
        .iter()
        .flat_map(|group| seq(group, &["rules"]).to_vec())
        .map(|rule| {
            (
                str_at(&rule, &["alert"]).to_owned(),
                str_at(&rule, &["expr"]).to_owned(),
            )
        })
        .collect()
}

/// `(panel title, expression)` of every target of the Grafana dashboard.
pub fn dashboard_expressions() -> Vec<(String, String)> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read(crate::monitoring::DASHBOARD)).expect("dashboard JSON parses");
    crate::monitoring::panels(&dashboard)
        .into_iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            panel["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| {
                    (
                        title.clone(),
                        t["expr"].as_str().unwrap_or_default().to_owned(),
                    )
                })
        })
        .collect()
}

/// Every metric name the alert rules and the dashboard reference (histograms with their
/// `_bucket`/`_sum`/`_count` suffix, as queried), `up` included.
pub fn referenced_metric_names() -> BTreeSet<String> {
    alert_expressions()
        .into_iter()
        .chain(dashboard_expressions())
        .flat_map(|(_, expr)| metric_names(&expr))
        .collect()
}

/// The series `docs/metrics.md` promises: each table row's name, and for histograms the three
/// series Prometheus exposes.
pub fn catalogued_series() -> BTreeSet<String> {
    let mut series = BTreeSet::new();
    for line in read("docs/metrics.md").lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(name), Some(kind)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) || name.contains(' ') {
            continue;
        }
        if *kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                series.insert(format!("{name}{suffix}"));
            }
        } else {
            series.insert((*name).to_owned());
        }
    }
    series
}

#[test]
fn the_scanner_finds_metric_names_and_nothing_else() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum without (instance) (x_total) + sum by (le, operation) (rate(gateway_upstream_request_duration_seconds_bucket{outcome!="ok", x=~"a(b)"}[$__rate_interval]))) / on() max(gateway_quota_limit) > 0.9 and up{job="x"} == 0"#,
    );
    let expected: BTreeSet<String> = [
        "x_total",
        "gateway_upstream_request_duration_seconds_bucket",
        "gateway_quota_limit",
        "up",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(names, expected);
}

#[test]
fn every_metric_the_alerts_and_dashboard_use_is_in_the_catalogue() {
    let catalogue = catalogued_series();
    assert!(
        catalogue.contains("gateway_quota_limit"),
        "docs/metrics.md has its table"
    );
    let referenced = referenced_metric_names();
    assert!(referenced.len() > 20, "found {referenced:?}");
    let unknown: Vec<&String> = referenced
        .iter()
        .filter(|name| !catalogue.contains(*name) && !BUILT_IN.contains(&name.as_str()))
        .collect();
    assert!(unknown.is_empty(), "not in docs/metrics.md: {unknown:?}");
}

#[test]
fn every_gateway_metric_in_the_catalogue_is_on_the_dashboard() {
    let on_dashboard: BTreeSet<String> = dashboard_expressions()
        .into_iter()
        .flat_map(|(_, expr)| metric_names(&expr))
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).map(str::to_owned))
                .unwrap_or(name)
        })
        .collect();
    let missing: Vec<String> = catalogued_series()
        .into_iter()
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).map(str::to_owned))
                .unwrap_or(name)
        })
        .filter(|name| !on_dashboard.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "catalogued but on no panel: {missing:?}"
    );
}
