//! `checkout-gateway`: parse the command line and hand over to the library.

use clap::Parser;

use checkout_gateway::cli::{Cli, Command, JobCommand};
use checkout_gateway::config::{LoadOptions, Settings};
use checkout_gateway::startup::{Application, BuildOptions};
use checkout_gateway::{store::Store, telemetry};

/// mimalloc rather than glibc's malloc: a burst of checkouts leaves glibc holding the memory
/// its short-lived buffers used (free, but not given back: `malloc_trim` on a running replica
/// returned a quarter of its RSS), where mimalloc returns freed pages. `bench scale`, 10,000
/// checkouts in flight, the same run of each: 7.7 KB per checkout (glibc), 3.6 (mimalloc), 3.3
/// (jemalloc, whose upstream is no longer developed); `docs/performance.md` has the figures.
/// Built as mimalloc v2 (the version measured) without transparent huge pages: the crate's
/// default, v3, asks for huge pages, and an idle replica took 74 MB instead of 39.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(&LoadOptions::from_process_env(cli.config.clone())?)?;
    let otlp = settings.log.otlp_endpoint();
    // Dropped last: what is still queued for stderr is written out on the way out.
    let (sink, _sink) = telemetry::stderr_sink();
    let _telemetry = telemetry::init(
        &telemetry::TelemetryOptions {
            format: settings.log.format,
            level: &settings.log.level,
            otlp_endpoint: otlp.as_ref(),
        },
        sink,
    );
    match cli.command {
        Command::Serve { no_migrate } => {
            checkout_gateway::startup::hardening::forbid_core_dumps();
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
            let request = checkout_gateway::startup::once::CliRun { query, json };
            checkout_gateway::startup::once::run(settings, request).await
        }
        #[cfg(feature = "dev-tools")]
        Command::Tools(tool) => checkout_gateway::tools::cli::run(settings, tool).await,
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
