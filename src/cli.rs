//! The command line: what an operator runs (`serve`, `migrate`, `jobs`), and, in builds with
//! the `dev-tools` feature (the default; not the Dockerfile's), the development tools of
//! [`crate::tools::cli`] (`sandbox`, `token`, `demo`, `bench`, `soak`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "checkout-gateway",
    version,
    about = "A payments-grade gateway in front of the Ticketmaster Partner API"
)]
pub struct Cli {
    /// One more configuration file, applied after config/{base,APP_ENV}.toml.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations (unless --no-migrate), the public API, the admin listener and the jobs.
    Serve {
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply migrations/ to the configured database and exit.
    Migrate,
    /// Run a background job once, now.
    Jobs {
        #[command(subcommand)]
        job: JobCommand,
    },
    /// The development tools (`sandbox`, `token`, `demo`, `bench`, `soak`).
    #[cfg(feature = "dev-tools")]
    #[command(flatten)]
    Tools(crate::tools::cli::ToolCommand),
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Run the unredeemed-orders job once (the configured queries, or the one given), queue
    /// its webhooks and attempt them once, and print what it found.
    Unredeemed {
        #[arg(long, conflicts_with = "days_before_event")]
        days_from_purchase: Option<u32>,
        #[arg(long)]
        days_before_event: Option<u32>,
        /// Print the run report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}
