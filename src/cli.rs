//! The command line: `serve`, `migrate`, `jobs`, `sandbox`, `token`, `demo`, `bench`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::sandbox::{Dialect, DialectError, Fault};

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
    /// Run the built-in Partner-API sandbox alone.
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
        /// Answer every polling-enabled call with 202 first.
        #[arg(long)]
        force_polling: bool,
        /// Per-apikey quota (requests per second); unlimited when absent.
        #[arg(long)]
        requests_per_second: Option<f64>,
        /// Inject a fault, `operation:kind[=value][:count]`, e.g. `purchase:drop_after_commit:1`,
        /// `any:status=503:3`, `reserve:latency=2000`, `poll:rate_limit=1500:2`. Repeatable; more
        /// can be added at run time with `POST /_sandbox/faults`.
        #[arg(long = "fault", value_name = "SPEC")]
        faults: Vec<Fault>,
        /// A dialect switch, `name=value` (e.g. `delete_purchased=refused`), or a preset:
        /// `literal` (the docs' most literal reading, the default) or `opposite`. Repeatable,
        /// applied in order; `POST /_sandbox/dialect` changes it at run time.
        #[arg(long = "dialect", value_name = "SWITCH", value_parser = dialect_switch)]
        dialect: Vec<String>,
    },
    /// Run a background job once, now.
    Jobs {
        #[command(subcommand)]
        job: JobCommand,
    },
    /// Print a partner user JWT signed with the configured HS256 secret.
    Token {
        #[arg(long)]
        user: String,
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Start everything in-process (SQLite, sandbox) and walk one purchase through the API.
    Demo,
    /// Benchmarks, each against a baseline measured in the same run. `quota` (the default):
    /// K users through R in-process replicas against a sandbox enforcing Q req/s, and the same
    /// users as naive direct clients. `overhead`, `flow`, `scale`, `recovery`, `fairness`
    /// (one user's purchases while another floods reads), or `all` of these five: see README
    /// "Performance".
    Bench {
        #[arg(value_enum, default_value = "quota")]
        which: crate::bench::Which,
        #[arg(long, default_value_t = 40)]
        users: usize,
        #[arg(long, default_value_t = 3)]
        replicas: usize,
        #[arg(long, default_value_t = 10.0)]
        quota: f64,
        /// overhead: `wrk` seconds per target.
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// overhead: `wrk` connections.
        #[arg(long, default_value_t = 64)]
        connections: u32,
        /// flow: sequential purchases timed.
        #[arg(long, default_value_t = 200)]
        purchases: usize,
        /// scale: checkouts in flight, ascending, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        checkouts: Vec<usize>,
        /// recovery: checkouts mid-poll on the killed replica.
        #[arg(long, default_value_t = 50)]
        recovery_checkouts: usize,
        /// fairness: purchases timed alone, then again under the flood.
        #[arg(long, default_value_t = 5)]
        fairness_purchases: usize,
    },
    /// Replicas on one fresh Postgres database under injected upstream faults and random
    /// `kill -9`s, with simulated users; then checks that nothing was lost, doubled or leaked
    /// and prints the counts (README "Soak"). Exits non-zero when a check fails.
    Soak {
        /// Seconds of faults and kills (settling comes after).
        #[arg(long, default_value_t = 600)]
        duration_secs: u64,
        #[arg(long, default_value_t = 3)]
        replicas: usize,
        #[arg(long, default_value_t = 16)]
        users: usize,
        /// Mean seconds between two kills.
        #[arg(long, default_value_t = 20)]
        kill_every_secs: u64,
        /// Seeds every random choice of the run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A dialect switch of the run's sandbox, `name=value` or a preset (see `sandbox
        /// --dialect`). Repeatable.
        #[arg(long = "dialect", value_name = "SWITCH", value_parser = dialect_switch)]
        dialect: Vec<String>,
        /// Seconds into the run when Postgres is stopped hard for 10 s (`pg_ctlcluster`, or
        /// `SOAK_POSTGRES_STOP` / `SOAK_POSTGRES_START`); every replica must recover by itself.
        #[arg(long)]
        postgres_outage_at_secs: Option<u64>,
        /// Seconds into the run when upstream becomes unreachable for 60 s.
        #[arg(long)]
        upstream_outage_at_secs: Option<u64>,
    },
}

/// One `--dialect` value, refused by clap (with the flag named) unless it is a valid switch or
/// preset; the list is turned into a [`Dialect`] with [`Dialect::parse`].
fn dialect_switch(switch: &str) -> Result<String, DialectError> {
    Dialect::parse(&[switch])?;
    Ok(switch.to_owned())
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
