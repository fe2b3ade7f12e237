//! `checkout-gateway jobs unredeemed`: one run from the command line, printed as a table (or
//! JSON). The run is recorded like any manual run, and its webhooks are attempted once before
//! the command exits; what is left is retried by the `serve` replicas' delivery workers.

use std::fmt::Write as _;

use super::Jobs;
use super::delivery::DeliveryPass;
use super::unredeemed::{RunReport, RunRequest};
use crate::config::Settings;
use crate::context::{AppContext, BuildOptions, Built};
use crate::upstream::UnredeemedQuery;

/// What `jobs unredeemed` was asked.
#[derive(Debug, Clone)]
pub struct CliRun {
    /// Replaces the configured queries when given.
    pub query: Option<UnredeemedQuery>,
    pub json: bool,
}

/// Builds the shared parts (store, upstream client), not the HTTP servers, and runs the job.
pub async fn run(settings: Settings, request: CliRun) -> anyhow::Result<()> {
    // The in-process sandbox, when configured, serves until the command ends.
    let Built {
        context,
        sandbox: _sandbox,
    } = AppContext::build(settings, &BuildOptions::default()).await?;
    let jobs = Jobs::build(&context, &context.settings.unredeemed)?;
    let report = jobs
        .unredeemed
        .run(RunRequest::Manual {
            queries: request.query.map(|q| vec![q]),
        })
        .await?
        .ok_or_else(|| anyhow::anyhow!("a run for this instant is already recorded"))?;
    let pass = match &jobs.delivery {
        Some(worker) => Some(worker.deliver_due().await),
        None => None,
    };
    if request.json {
        let out = serde_json::json!({
            "run": report,
            "deliveries": pass.map(|p| serde_json::json!({
                "delivered": p.delivered, "failed": p.failed, "dead_lettered": p.dead_lettered,
            })),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", table(&report, pass));
    }
    Ok(())
}

/// The report as a plain-text table, one line per order found.
pub fn table(report: &RunReport, pass: Option<DeliveryPass>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} ({:?}, {}): {} found, {} known, {} unknown",
        report.run_id,
        report.status,
        report.scheduled_at.to_rfc3339(),
        report.findings.len(),
        report.known,
        report.unknown
    );
    let _ = writeln!(
        out,
        "{:<24} {:<40} {:<22} {:<18} {:<20}",
        "USER", "ORDER TOKEN", "QUERY", "EVENT", "PURCHASED"
    );
    for f in &report.findings {
        let user = f
            .user_id
            .as_ref()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_else(|| format!("unknown:{}", f.source_account_id));
        let _ = writeln!(
            out,
            "{:<24} {:<40} {:<22} {:<18} {:<20}",
            user,
            f.order_token,
            f.query,
            f.event_id,
            f.purchased_at.format("%Y-%m-%d %H:%M")
        );
    }
    if let Some(error) = &report.error {
        let _ = writeln!(out, "error: {error}");
    }
    match pass {
        Some(p) => {
            let _ = writeln!(
                out,
                "webhooks: {} delivered, {} to retry, {} dead-lettered",
                p.delivered, p.failed, p.dead_lettered
            );
        }
        None => {
            let _ = writeln!(out, "webhooks: none configured (unredeemed.webhook_url)");
        }
    }
    out
}
