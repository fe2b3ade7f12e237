//! Prometheus rules and configuration, the runbook they link to, and the Grafana dashboard.
//! (`promtool check`/`test rules` run in `scripts/check-deploy`.)

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::metric_refs::alert_expressions;
use crate::support::{at, read, scalar, seq, str_at, yaml};

/// The scrape job name the alert rules select on (`up{job=…}`).
pub const GATEWAY_JOB: &str = "checkout-gateway";
pub const DATASOURCE_UID: &str = "prometheus";
pub const DASHBOARD: &str = "deploy/grafana/dashboards/checkout-gateway.json";
const RUNBOOK_URL: &str = "https://github.com/example/checkout-gateway/blob/main/docs/runbook.md#";

/// Every non-row panel, rows' nested panels included.
pub fn panels(dashboard: &Json) -> Vec<Json> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            out.extend(panel["panels"].as_array().cloned().unwrap_or_default());
        } else {
            out.push(panel.clone());
        }
    }
    out
}

/// GitHub's anchor for a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn alert_rules() -> Vec<serde_yaml::Value> {
    let rules = yaml("deploy/prometheus/alerts.yml");
    seq(&rules, &["groups"])
        .iter()
        .flat_map(|g| seq(g, &["rules"]).to_vec())
        .collect()
}

#[test]
fn every_alert_has_a_severity_a_summary_and_a_runbook_section() {
    let runbook_anchors: BTreeSet<String> = read("docs/runbook.md")
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(anchor)
        .collect();
    let readme = read("README.md");
    let rules = alert_rules();
    assert!(rules.len() >= 8, "the issue's alerts are all there");
    for rule in &rules {
        let name = str_at(rule, &["alert"]);
        let severity = str_at(rule, &["labels", "severity"]);
        assert!(
            ["critical", "warning"].contains(&severity),
            "{name}: severity {severity}"
        );
        for annotation in ["summary", "description"] {
            assert!(!str_at(rule, &["annotations", annotation]).trim().is_empty());
        }
        let url = str_at(rule, &["annotations", "runbook_url"]);
        let section = url
            .strip_prefix(RUNBOOK_URL)
            .unwrap_or_else(|| panic!("{name}: runbook_url {url} is not in docs/runbook.md"));
        assert_eq!(section, name.to_lowercase(), "{name}: its own section");
        assert!(
            runbook_anchors.contains(section),
            "docs/runbook.md has no `## {name}`"
        );
        assert!(
            readme.contains(&format!("`{name}`")),
            "README's alert table lacks {name}"
        );
    }
}

#[test]
fn the_issues_alerts_exist() {
    let names: Vec<String> = alert_expressions().into_iter().map(|(n, _)| n).collect();
    for expected in [
        "GatewayUpstreamRateLimited",
        "GatewayQuotaNearlyExhausted",
        "GatewayPurchaseUnknownStuck",
        "GatewaySweeperBacklog",
        "GatewayWebhookDeadLetters",
        "GatewayHighErrorRate",
        "GatewayDown",
    ] {
        assert!(names.iter().any(|n| n == expected), "no {expected}");
    }
}

#[test]
fn every_alert_is_unit_tested_firing_and_silent() {
    let tests = yaml("deploy/prometheus/alerts.test.yml");
    let cases: Vec<(String, bool)> = seq(&tests, &["tests"])
        .iter()
        .flat_map(|t| seq(t, &["alert_rule_test"]).to_vec())
        .map(|case| {
            let fires = !seq(&case, &["exp_alerts"]).is_empty();
            (str_at(&case, &["alertname"]).to_owned(), fires)
        })
        .collect();
    for (name, _) in alert_expressions() {
        for fires in [true, false] {
            assert!(
                cases.contains(&(name.clone(), fires)),
                "alerts.test.yml has no case where {name} {}",
                if fires { "fires" } else { "stays silent" }
            );
        }
    }
}

#[test]
fn the_job_the_rules_select_is_the_one_both_prometheus_configs_scrape() {
    for (name, expr) in alert_expressions() {
        if expr.contains("job=") {
            assert!(
                expr.contains(&format!("job=\"{GATEWAY_JOB}\"")),
                "{name}: {expr}"
            );
        }
    }
    for config in [
        "deploy/prometheus/prometheus.yml",
        "deploy/prometheus/prometheus-kubernetes.yml",
    ] {
        let config = yaml(config);
        let jobs: Vec<String> = seq(&config, &["scrape_configs"])
            .iter()
            .map(|j| scalar(at(j, &["job_name"])))
            .collect();
        assert!(jobs.contains(&GATEWAY_JOB.to_owned()), "{jobs:?}");
        let rule_files: Vec<String> = seq(&config, &["rule_files"]).iter().map(scalar).collect();
        assert_eq!(rule_files, ["alerts.yml"]);
    }
}

#[test]
fn every_dashboard_panel_queries_the_provisioned_datasource() {
    let dashboard: Json = serde_json::from_str(&read(DASHBOARD)).expect("dashboard JSON parses");
    assert_eq!(dashboard["uid"], "checkout-gateway");
    let panels = panels(&dashboard);
    assert!(panels.len() >= 20, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    for panel in &panels {
        let title = panel["title"].as_str().expect("title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("id")),
            "{title}: duplicate id"
        );
        assert_eq!(panel["datasource"]["uid"], DATASOURCE_UID, "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(!expr.trim().is_empty(), "{title}: empty query");
            assert_eq!(target["datasource"]["uid"], DATASOURCE_UID, "{title}");
        }
        let grid = &panel["gridPos"];
        let (x, w) = (
            grid["x"].as_u64().expect("x"),
            grid["w"].as_u64().expect("w"),
        );
        assert!(x + w <= 24, "{title} is wider than the dashboard");
    }
}

#[test]
fn the_dashboard_has_the_panels_on_call_needs() {
    let dashboard: Json = serde_json::from_str(&read(DASHBOARD)).expect("dashboard JSON parses");
    let titles: Vec<String> = panels(&dashboard)
        .iter()
        .map(|p| p["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    for expected in [
        "Purchase funnel",
        "Checkouts by state",
        "Latency by route (p50, p99)",
        "Upstream latency by operation (p99)",
        "Upstream errors by operation",
        "Upstream 429s by operation",
        "Quota used vs limit",
        "Quota wait by lane (p99)",
        "Sweeper releases by reason",
        "Sweeper backlog and failures",
        "Takeovers, dead replicas, orphaned leases",
        "Job runs by outcome",
        "Webhook deliveries by outcome",
        "Oldest undelivered webhook",
    ] {
        assert!(titles.iter().any(|t| t == expected), "no panel {expected}");
    }
}
