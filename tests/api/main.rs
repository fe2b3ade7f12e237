//! The API test binary: black-box tests through HTTP, each against its own app on port 0, a
//! fresh Postgres database and the in-process sandbox.

mod helpers;

mod admin_openapi;
mod auth;
mod checkouts;
mod database_outage;
mod errors;
mod example_app;
mod fairness;
mod faults;
mod guide;
mod hosted_page;
mod hosted_support;
mod idempotency;
mod independent;
mod jobs;
mod metrics;
mod openapi;
mod ownership;
mod platform;
mod problem_types;
mod process;
mod read_cache;
mod readings;
mod receiver;
mod replica_jobs;
mod replicas;
mod shutdown;
mod strict_upstream;
mod sweeper;
mod upstream;
mod waiters;
