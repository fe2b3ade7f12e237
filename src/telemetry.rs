//! The tracing subscriber: pretty logs locally, JSON in production, and optionally spans
//! exported over OTLP. Every log line passes the [`redact`] layer on its way to the sink.
//! Secrets are kept out by construction too (card data lives in redacting secret types; the
//! upstream client logs operation names rather than URLs, which carry the apikey).

pub mod access;
pub mod export;
pub mod redact;

use std::io::Write;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use url::Url;

/// How log lines are written (`log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// How logs and traces leave the process.
#[derive(Debug, Clone)]
pub struct TelemetryOptions<'a> {
    pub format: LogFormat,
    /// `RUST_LOG` wins when set.
    pub level: &'a str,
    /// OTLP/HTTP traces endpoint (e.g. `http://collector:4318/v1/traces`); `None` = off.
    pub otlp_endpoint: Option<&'a Url>,
}

/// Flushes exported spans when dropped (at the end of `main`).
#[must_use = "dropping the guard flushes and stops trace export"]
pub struct TelemetryGuard {
    tracer: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("trace export shutdown: {e}");
        }
    }
}

/// Where `serve` and the other commands write their log lines: stderr, through a writer
/// thread. Request threads hand each formatted line to a channel and go on; the thread writes
/// whatever has queued in one `write` (a buffer flushed once the queue is empty). Written
/// directly, every access line took stderr's process-wide lock and a syscall of its own on the
/// request's thread, and two workers queued on that lock. Not lossy: a full queue (128k
/// lines) makes the logging thread wait rather than drop a line. Keep the guard until the end
/// of `main`: dropping it writes out what is queued. A `kill -9` loses only the lines queued
/// at that instant; a panic's line also goes straight to stderr (the hook).
pub fn stderr_sink() -> (
    tracing_appender::non_blocking::NonBlocking,
    tracing_appender::non_blocking::WorkerGuard,
) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::new(std::io::stderr()))
}

/// Install the global subscriber once; later calls are no-ops (tests build many apps).
pub fn init<W>(options: &TelemetryOptions<'_>, writer: W) -> TelemetryGuard
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(options.level));
    let fmt = tracing_subscriber::fmt::layer().with_writer(Redacting(writer));
    let fmt = match options.format {
        // The access line, one per request, has a formatter of its own (`access`).
        LogFormat::Json => {
            let stock = tracing_subscriber::fmt::format().json().flatten_event(true);
            fmt.json()
                .flatten_event(true)
                .fmt_fields(access::JsonSpanFields)
                .event_format(access::JsonLines { stock })
                .boxed()
        }
        LogFormat::Pretty => fmt.compact().boxed(),
    };
    let tracer =
        options.otlp_endpoint.and_then(
            |endpoint| match opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint.as_str())
                .build()
            {
                Ok(exporter) => Some(
                    SdkTracerProvider::builder()
                        .with_batch_exporter(export::RedactingExporter(exporter))
                        .with_resource(
                            opentelemetry_sdk::Resource::builder()
                                .with_service_name(env!("CARGO_PKG_NAME"))
                                .build(),
                        )
                        .build(),
                ),
                Err(e) => {
                    eprintln!("OTLP trace export disabled: {e}");
                    None
                }
            },
        );
    let otel = tracer.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(env!("CARGO_PKG_NAME")))
    });
    // `traceparent` in, W3C trace context throughout.
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    install_panic_hook();
    // Already installed (tests): keep the first.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init();
    TelemetryGuard { tracer }
}

/// Panic messages pass the redaction too. The default hook writes a panic's message straight
/// to stderr, and a message can hold input (a value in an `expect`, a formatted request): this
/// one logs it redacted, as an error event (so it reaches the log sink like any line), and
/// prints the same redacted line to stderr, with a backtrace when `RUST_BACKTRACE` asks.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let line = panic_line(&location, &payload);
            tracing::error!(panic.location = %location, "{line}");
            eprintln!("{line}\n{}", std::backtrace::Backtrace::capture());
        }));
    });
}

/// The redacted line a panic at `location` with `payload` is reported as.
fn panic_line(location: &str, payload: &str) -> String {
    redact::redact(&format!("panicked at {location}: {payload}"))
}

/// Hands each formatted event to the sink only after [`redact::redact`].
struct Redacting<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

struct RedactingWriter<W>(W);

impl<W: Write> Write for RedactingWriter<W> {
    /// The formatter writes each event whole, so each call sees a whole line. A line with
    /// nothing to mask (checked in one pass over its bytes, without copying or a UTF-8 check)
    /// is written as it is; only the others pay for [`redact::redact`]'s passes and copies.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if redact::needs_redaction(buf) {
            let text = String::from_utf8_lossy(buf);
            self.0.write_all(redact::redact(&text).as_bytes())?;
        } else {
            self.0.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
