//! What `checkout-gateway jobs unredeemed` prints of its run: a table (or JSON, see
//! `startup::once`, which runs it).

use std::fmt::Write as _;

use super::delivery::DeliveryPass;
use super::unredeemed::RunReport;

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
