//! The tracing subscriber: pretty logs locally, JSON in production. Secrets never reach it
//! by construction (card data lives in redacting secret types, the upstream client logs
//! operation names rather than URLs, which carry the apikey).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Install the global subscriber once; later calls are no-ops (tests build many apps).
pub fn init<W>(format: LogFormat, level: &str, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // Already installed (tests): keep the first.
    let _ = result;
}
