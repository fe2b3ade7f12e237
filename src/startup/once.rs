//! `checkout-gateway jobs unredeemed`: one run from the command line, printed as a table (or
//! JSON). The run is recorded like any manual run, and its webhooks are attempted once before
//! the command exits; what is left is retried by the `serve` replicas' delivery workers. Only
//! the shared parts are built: no listener is bound.

use super::parts::{self, BuildOptions, Built};
use crate::config::Settings;
use crate::jobs::Jobs;
use crate::jobs::model::RunStatus;
use crate::jobs::report;
use crate::jobs::unredeemed::RunRequest;
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
    } = parts::build(&settings, &BuildOptions::default()).await?;
    let jobs = Jobs::build(&context, &settings.unredeemed)?;
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
        print!("{}", report::table(&report, pass));
    }
    // A script or an operator following the runbook learns of a failure from the exit status
    // too (found by review: a failed run exited 0).
    if report.status == RunStatus::Failed {
        anyhow::bail!("the unredeemed-orders run failed (see above)");
    }
    if let Some(pass) = pass.filter(|p| p.dead_lettered > 0) {
        anyhow::bail!(
            "{} deliveries were dead-lettered (see above)",
            pass.dead_lettered
        );
    }
    Ok(())
}
