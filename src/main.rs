//! `checkout-gateway`: parse the command line and hand over to the library.

use clap::Parser;
use secrecy::ExposeSecret;

use checkout_gateway::cli::{Cli, Command, JobCommand};
use checkout_gateway::config::{LoadOptions, Settings};
use checkout_gateway::startup::{Application, BuildOptions};
use checkout_gateway::{demo, sandbox, store::Store, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(&LoadOptions::from_process_env(cli.config.clone())?)?;
    let otlp = settings.log.otlp_endpoint();
    let _telemetry = telemetry::init(
        &telemetry::TelemetryOptions {
            format: settings.log.format,
            level: &settings.log.level,
            otlp_endpoint: otlp.as_ref(),
        },
        std::io::stderr,
    );
    match cli.command {
        Command::Serve { no_migrate } => {
            let app = Application::build(
                settings,
                BuildOptions {
                    skip_migrations: no_migrate,
                    ..BuildOptions::default()
                },
            )
            .await?;
            tracing::info!(
                port = app.port(),
                admin_port = app.admin_port(),
                "checkout-gateway listening"
            );
            app.run_until_stopped().await
        }
        Command::Migrate => {
            let store = Store::connect_with(&settings.database.migration_options()).await?;
            store.migrate().await?;
            println!(
                "migrations applied to {}",
                redact_url(&settings.database.url)
            );
            Ok(())
        }
        Command::Sandbox {
            listen,
            force_polling,
            requests_per_second,
            faults,
            dialect,
        } => {
            let dialect = sandbox::Dialect::parse(&dialect)?;
            let config = sandbox::SandboxConfig {
                apikey: settings.upstream.apikey.expose_secret().to_owned(),
                client_secret: settings
                    .upstream
                    .client_secret
                    .as_ref()
                    .map(|s| s.expose_secret().to_owned()),
                force_polling,
                requests_per_second,
                faults,
                dialect,
                ..sandbox::SandboxConfig::default()
            };
            println!("sandbox on http://{listen}/partners/v1");
            Ok(sandbox::run_standalone(config, listen).await?)
        }
        Command::Jobs {
            job:
                JobCommand::Unredeemed {
                    days_from_purchase,
                    days_before_event,
                    json,
                },
        } => {
            use checkout_gateway::upstream::UnredeemedQuery;
            let query = days_from_purchase
                .map(UnredeemedQuery::DaysFromPurchase)
                .or(days_before_event.map(UnredeemedQuery::DaysBeforeEvent));
            let request = checkout_gateway::jobs::report::CliRun { query, json };
            checkout_gateway::jobs::report::run(settings, request).await
        }
        Command::Token { user, ttl } => {
            // Refuses a production configuration: see `dev_token`.
            let token = checkout_gateway::http::auth::dev_token(&settings, &user, ttl)?;
            println!("{token}");
            Ok(())
        }
        Command::Demo => demo::run(settings).await,
        Command::Bench {
            which,
            users,
            replicas,
            quota,
            duration_secs,
            connections,
            purchases,
            checkouts,
            recovery_checkouts,
            fairness_purchases,
        } => {
            use checkout_gateway::bench::{self, BenchPlan, Sizes, Which};
            if which == Which::Quota {
                let plan = BenchPlan {
                    users,
                    replicas,
                    quota,
                };
                return bench::run(settings, plan).await;
            }
            let sizes = Sizes {
                duration_secs,
                connections,
                purchases,
                checkouts,
                recovery_checkouts,
                fairness_purchases,
            };
            bench::run_selected(settings, which, sizes).await
        }
        Command::Soak {
            duration_secs,
            replicas,
            users,
            kill_every_secs,
            seed,
            dialect,
            postgres_outage_at_secs,
            upstream_outage_at_secs,
        } => {
            let plan = checkout_gateway::soak::SoakPlan {
                postgres_outage_at: postgres_outage_at_secs.map(std::time::Duration::from_secs),
                upstream_outage_at: upstream_outage_at_secs.map(std::time::Duration::from_secs),
                duration: std::time::Duration::from_secs(duration_secs),
                replicas,
                users,
                kill_every: std::time::Duration::from_secs(kill_every_secs.max(1)),
                seed,
                dialect: sandbox::Dialect::parse(&dialect)?,
            };
            checkout_gateway::soak::run(settings, plan).await
        }
    }
}

fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
