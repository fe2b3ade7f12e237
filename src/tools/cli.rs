//! The development tools' commands, flattened into the main command line by
//! [`crate::cli::Command::Tools`]: the standalone sandbox, a dev token, the demo, the
//! benchmarks and the soak. None of them is for a production deployment (the production
//! profile refuses `token`, and the Dockerfile builds without them).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Subcommand;

use crate::config::Settings;
use crate::sandbox::{self, Dialect, DialectError, Fault};

#[derive(Debug, Subcommand)]
pub enum ToolCommand {
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
        which: super::bench::Which,
        #[arg(long, default_value_t = 40)]
        users: usize,
        #[arg(long, default_value_t = 3)]
        replicas: usize,
        #[arg(long, default_value_t = 10.0)]
        quota: f64,
        /// quota: replicas as `serve` processes on a fresh Postgres database (`DATABASE_URL`
        /// or the local server) instead of in-process on the configured store.
        #[arg(long)]
        serve: bool,
        /// quota: each user buys again and again for this many seconds (0: once).
        #[arg(long, default_value_t = 0)]
        sustain_secs: u64,
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

/// Runs one tool with the loaded settings.
pub async fn run(settings: Settings, command: ToolCommand) -> anyhow::Result<()> {
    match command {
        ToolCommand::Sandbox {
            listen,
            force_polling,
            requests_per_second,
            faults,
            dialect,
        } => {
            let config = sandbox::SandboxConfig {
                force_polling,
                requests_per_second,
                faults,
                dialect: Dialect::parse(&dialect)?,
                ..crate::startup::parts::sandbox_for(&settings)
            };
            println!("sandbox on http://{listen}/partners/v1");
            Ok(sandbox::run_standalone(config, listen).await?)
        }
        ToolCommand::Token { user, ttl } => {
            // Refuses a production configuration: see `dev_token`.
            let token = super::token::dev_token(&settings, &user, ttl)?;
            println!("{token}");
            Ok(())
        }
        ToolCommand::Demo => super::demo::run(settings).await,
        ToolCommand::Bench {
            which,
            users,
            replicas,
            quota,
            serve,
            sustain_secs,
            duration_secs,
            connections,
            purchases,
            checkouts,
            recovery_checkouts,
            fairness_purchases,
        } => {
            use super::bench::{self, BenchPlan, Sizes, Which};
            if which == Which::Quota {
                let plan = BenchPlan {
                    users,
                    replicas,
                    quota,
                    serve,
                    sustain_secs,
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
        ToolCommand::Soak {
            duration_secs,
            replicas,
            users,
            kill_every_secs,
            seed,
            dialect,
            postgres_outage_at_secs,
            upstream_outage_at_secs,
        } => {
            let plan = super::soak::SoakPlan {
                postgres_outage_at: postgres_outage_at_secs.map(Duration::from_secs),
                upstream_outage_at: upstream_outage_at_secs.map(Duration::from_secs),
                duration: Duration::from_secs(duration_secs),
                replicas,
                users,
                kill_every: Duration::from_secs(kill_every_secs.max(1)),
                seed,
                dialect: Dialect::parse(&dialect)?,
            };
            super::soak::run(settings, plan).await
        }
    }
}
