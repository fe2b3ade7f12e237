//! The JSON line of the access log (target [`TARGET`], one per request), written by hand.
//!
//! tracing-subscriber's JSON formatter serialises every event through serde with a
//! per-chunk UTF-8 check, and, for each span it shows, parses the span's stored fields back
//! from JSON into a map to write them again: twice for the access line (`span` and `spans`).
//! That was most of the cost of a cached read (docs/performance.md, "A cheap access log").
//! This formatter writes the same shape — `timestamp`, `level`, the event's fields flattened
//! (`message` among them), `target`, `span` and `spans` — straight into the line, splicing
//! each span's fields as the JSON text they are already stored as. Every other event goes to
//! the stock formatter. The line still passes the redaction like any other (`super`).

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// The target of the access line (`http::observe`).
pub const TARGET: &str = "access";

/// Formats the access line by hand and every other event with `stock`.
pub struct JsonLines {
    pub stock: Format<Json>,
}

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().target() == TARGET {
            let current = event
                .parent()
                .and_then(|id| ctx.span(id))
                .or_else(|| ctx.lookup_current());
            // A span whose fields are not a stored JSON object (never, with `JsonFields`)
            // goes the stock way rather than as a broken line.
            if current
                .as_ref()
                .is_none_or(|span| with_fields(span, |inner| inner.is_some()))
            {
                return access_line(&mut writer, event, current);
            }
        }
        self.stock.format_event(ctx, writer, event)
    }
}

fn access_line<S>(
    w: &mut Writer<'_>,
    event: &Event<'_>,
    current: Option<SpanRef<'_, S>>,
) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    w.write_str("{\"timestamp\":\"")?;
    SystemTime.format_time(w)?;
    write!(w, "\",\"level\":\"{}\"", event.metadata().level())?;
    let mut fields = Fields { w, result: Ok(()) };
    event.record(&mut fields);
    fields.result?;
    w.write_str(",\"target\":")?;
    json_str(w, event.metadata().target())?;
    if let Some(span) = current {
        w.write_str(",\"span\":")?;
        span_object(w, &span)?;
        w.write_str(",\"spans\":[")?;
        for (i, span) in span.scope().from_root().enumerate() {
            if i > 0 {
                w.write_char(',')?;
            }
            span_object(w, &span)?;
        }
        w.write_char(']')?;
    }
    w.write_str("}\n")
}

/// `{<the span's fields>,"name":"<its name>"}`, as the stock formatter shows a span.
fn span_object<S>(w: &mut Writer<'_>, span: &SpanRef<'_, S>) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    w.write_char('{')?;
    with_fields(span, |inner| match inner {
        Some(inner) if !inner.is_empty() => w.write_str(inner).and_then(|()| w.write_char(',')),
        _ => Ok(()),
    })?;
    w.write_str("\"name\":")?;
    json_str(w, span.name())?;
    w.write_char('}')
}

/// Calls `f` with the inside of the span's stored JSON object (`JsonFields` keeps
/// `{"k":v,…}` per span), borrowed, or `None` if what is stored is not one.
fn with_fields<S, R>(span: &SpanRef<'_, S>, f: impl FnOnce(Option<&str>) -> R) -> R
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let extensions = span.extensions();
    let inner = extensions
        .get::<FormattedFields<JsonFields>>()
        .and_then(|stored| object_inside(&stored.fields));
    f(inner)
}

/// `{…}` → `…`; an empty text (a span with no fields) → "".
fn object_inside(text: &str) -> Option<&str> {
    let text = text.trim();
    if text.is_empty() {
        return Some(text);
    }
    Some(text.strip_prefix('{')?.strip_suffix('}')?.trim())
}

/// Writes each field of the event as `,"name":value`.
struct Fields<'a, 'w> {
    w: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self
                .w
                .write_char(',')
                .and_then(|()| json_str(self.w, field.name()))
                .and_then(|()| self.w.write_char(':'))
                .and_then(|()| value(self.w));
        }
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, |w| json_str(w, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes them as null too.
        if value.is_finite() {
            self.entry(field, |w| write!(w, "{value}"));
        } else {
            self.entry(field, |w| w.write_str("null"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields and the message arrive here; escaped as they are formatted, with no
        // string in between.
        self.entry(field, |w| {
            w.write_char('"')?;
            write!(Escaping(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

/// `value` as a JSON string.
fn json_str(w: &mut Writer<'_>, value: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaping(w).write_str(value)?;
    w.write_char('"')
}

/// Escapes what JSON requires inside a string (quote, backslash, control characters) and
/// passes the rest through in runs.
struct Escaping<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut from = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&s[from..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            from = i + 1;
        }
        self.0.write_str(&s[from..])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines `emit` logs, through the stock JSON formatter or through [`JsonLines`].
    fn lines(hand_written: bool, emit: impl Fn()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let writer = captured.clone();
        let stock = tracing_subscriber::fmt::format().json().flatten_event(true);
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone());
        let subscriber = tracing_subscriber::registry();
        if hand_written {
            let layer = layer.event_format(JsonLines { stock });
            tracing::subscriber::with_default(subscriber.with(layer), &emit);
        } else {
            tracing::subscriber::with_default(subscriber.with(layer), &emit);
        }
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("UTF-8");
        assert!(text.ends_with('\n'), "{text}");
        text.lines()
            .map(|line| {
                let mut value: serde_json::Value = serde_json::from_str(line).expect(line);
                // The one field that differs between two runs.
                let timestamp = value
                    .as_object_mut()
                    .and_then(|o| o.remove("timestamp"))
                    .expect("a timestamp");
                assert!(
                    timestamp.as_str().is_some_and(|t| t.ends_with('Z')),
                    "{line}"
                );
                value
            })
            .collect()
    }

    fn access_line(path: &str, problem: &str) {
        let outer = tracing::info_span!("outer", replica = 2u64);
        let _outer = outer.enter();
        let request = tracing::info_span!(
            "request",
            request_id = "0123abcd",
            trace_id = "",
            method = %"GET",
            path = %path
        );
        let _request = request.enter();
        tracing::info!(
            target: "access",
            method = %"GET",
            route = %"/v1/checkouts/{id}",
            status = 404u16,
            latency_ms = 0.825,
            request_id = "0123abcd",
            problem,
            ok = false,
            delta = -3i64,
            ratio = f64::NAN,
            "request"
        );
    }

    #[test]
    fn the_access_line_is_the_stock_formatters_line() {
        let path = "/v1/checkouts/\"quoted\"\\back\nline\u{1}\ttab é";
        let stock = lines(false, || access_line(path, "not_found"));
        let hand = lines(true, || access_line(path, "not_found"));
        assert_eq!(hand, stock);
        assert_eq!(hand[0]["span"]["path"], path, "{}", hand[0]);
        assert_eq!(hand[0]["spans"][0]["name"], "outer", "{}", hand[0]);
        assert_eq!(hand[0]["status"], 404, "{}", hand[0]);
    }

    #[test]
    fn an_access_line_outside_any_span_and_other_events_stay_as_they_were() {
        let emit = || {
            tracing::info!(target: "access", status = 200u16, "request");
            tracing::warn!(checkout = "chk_1", "something else");
        };
        assert_eq!(lines(true, emit), lines(false, emit));
    }
}
