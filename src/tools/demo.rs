//! `checkout-gateway demo`: start everything in-process (SQLite in a temporary folder, the
//! sandbox) and walk one purchase through the public API, printing each step.

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::config::{Settings, UpstreamTarget};
use crate::http::auth::issue_token;
use crate::startup::{Application, BuildOptions};

/// The docs' sandbox event and ticket type, and the docs' test card.
const EVENT_ID: &str = "3F004CBB88958BF9";
const TICKET_ID: &str = "000002040006";

pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "checkout-gateway-demo-{}",
        uuid::Uuid::new_v4().simple()
    ));
    settings.database.url = format!("sqlite://{}/gateway.db", dir.display());
    settings.upstream.target = UpstreamTarget::Sandbox;
    // The walk-through is meant to end in a purchase whenever it is run: its venues hold
    // their nightly maintenance half a day away (the default 2–3 AM falls at 09–11 UTC in the
    // western venues, and every ticketing call would be refused then, as upstream would).
    let (start_hour, end_hour) = crate::sandbox::maintenance_hours_away_from(chrono::Utc::now());
    settings.maintenance = crate::config::MaintenanceSettings {
        start_hour,
        end_hour,
    };
    println!(
        "(the demo's venues hold their nightly maintenance from {start_hour}:00 to {end_hour}:00 \
         local time today, away from now)"
    );
    settings.http.listen = "127.0.0.1:0".parse()?;
    settings.admin.listen = "127.0.0.1:0".parse()?;
    let secret = settings
        .auth
        .jwt_hs256_secret
        .clone()
        .context("auth.jwt_hs256_secret is not set")?;
    let app = Application::build(settings, BuildOptions::default()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let _running = app.spawn();
    let token = issue_token(&secret, "demo-user", 3600).map_err(anyhow::Error::msg)?;
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token)
            .header("Prefer", "wait=20")
    };

    step(
        "1. Event details",
        call(reqwest::Method::GET, &format!("/v1/events/{EVENT_ID}")),
    )
    .await?;
    let page = call(reqwest::Method::GET, "/v1/captcha").send().await?;
    println!(
        "\n== 2. Captcha page: HTTP {}, site key {:?} (the sandbox accepts any fresh token)",
        page.status(),
        page.headers().get("x-captcha-site-key")
    );
    let created = step(
        "3. Create checkout (captcha + reserve)",
        call(reqwest::Method::POST, "/v1/checkouts").json(&json!({
            "event_id": EVENT_ID,
            "captcha_token": format!("demo-{}", uuid::Uuid::new_v4().simple()),
            "tickets": [{"ticket_id": TICKET_ID, "quantity": 2}]
        })),
    )
    .await?;
    let id = created["id"].as_str().context("no checkout id")?.to_owned();
    step(
        "4. Add payment (the gateway encrypts the card; only brand and last4 are kept)",
        call(reqwest::Method::PUT, &format!("/v1/checkouts/{id}/payment")).json(&json!({
            "card": {"number": "4588883206000011", "cvv": "123", "expire_month": 12, "expire_year": 2020},
            "billing": {
                "first_name": "John", "last_name": "Doe", "email": "john.doe@example.com",
                "phone": "212-867-5309",
                "address": {"line1": "123 Main Street", "city": "Los Angeles", "region": "CA",
                            "postal_code": "90210", "country": "US"}
            }
        })),
    )
    .await?;
    step(
        "5. Purchase",
        call(
            reqwest::Method::POST,
            &format!("/v1/checkouts/{id}/purchase"),
        ),
    )
    .await?;
    step("6. Orders", call(reqwest::Method::GET, "/v1/orders")).await?;
    let _ = std::fs::remove_dir_all(&dir);
    println!("\nDone: one purchase, end to end.");
    Ok(())
}

async fn step(title: &str, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let resp = request.send().await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    println!(
        "\n== {title}: HTTP {status}\n{}",
        serde_json::to_string_pretty(&body)?
    );
    if !status.is_success() {
        bail!("{title} failed with HTTP {status}");
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use crate::config::{LoadOptions, Settings};

    /// The whole walk-through ends in a purchase, at any hour (its venues' maintenance is
    /// moved out of the way).
    #[tokio::test]
    async fn the_demo_buys_end_to_end() {
        let settings = Settings::load(&LoadOptions::local_with(&[])).expect("local settings");
        super::run(settings).await.expect("the demo's purchase");
    }
}
