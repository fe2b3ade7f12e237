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

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// The target of the access line (`http::observe`).
pub const TARGET: &str = "access";

/// Formats the access line by hand and every other event with `stock`.
pub struct JsonLines {
    pub stock: Format<Json>,
}

impl<S> FormatEvent<S, JsonSpanFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonSpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().target() == TARGET {
            let current = event
                .parent()
                .and_then(|id| ctx.span(id))
                .or_else(|| ctx.lookup_current());
            // A span whose fields are not a stored JSON object (never, with `JsonSpanFields`)
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
    timestamp(w)?;
    write!(w, "\",\"level\":\"{}\"", event.metadata().level())?;
    let mut fields = Fields {
        w,
        comma: true,
        result: Ok(()),
    };
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

/// The time now as tracing's `SystemTime` writes it (`2026-12-05T05:08:08.460796Z`: UTC, to
/// the microsecond). The part to the second is formatted once a second per thread and reused:
/// the calendar arithmetic and `fmt` of every field, for every line, were a sixth of the
/// line's formatting.
fn timestamp(w: &mut Writer<'_>) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, micros) = (now.as_secs(), now.subsec_micros());
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != secs {
            let at = i64::try_from(secs)
                .ok()
                .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0));
            let Some(at) = at else {
                return SystemTime.format_time(w);
            };
            second.1.clear();
            write!(second.1, "{}", at.format("%Y-%m-%dT%H:%M:%S"))?;
            second.0 = secs;
        }
        w.write_str(&second.1)?;
        let mut fraction = *b".000000Z";
        let mut rest = micros;
        for digit in fraction[1..7].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        w.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
    })
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

/// Calls `f` with the inside of the span's stored JSON object (`JsonSpanFields` keeps
/// `{"k":v,…}` per span), borrowed, or `None` if what is stored is not one.
fn with_fields<S, R>(span: &SpanRef<'_, S>, f: impl FnOnce(Option<&str>) -> R) -> R
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let extensions = span.extensions();
    let inner = extensions
        .get::<FormattedFields<JsonSpanFields>>()
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

/// Writes each field as `"name":value`, each but the first (unless `comma` from the start)
/// after a comma.
struct Fields<'a, 'w> {
    w: &'a mut Writer<'w>,
    comma: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            let comma = std::mem::replace(&mut self.comma, true);
            self.result = (if comma {
                self.w.write_char(',')
            } else {
                Ok(())
            })
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
        // As serde_json writes it (`1.0`, not `1`: the same JSON number type as before).
        if let Some(number) = serde_json::Number::from_f64(value) {
            self.entry(field, |w| write!(w, "{number}"));
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

/// A span's fields as the JSON object tracing-subscriber's `JsonFields` stores (the same
/// names and values), written straight into the span's text in the order they are declared
/// instead of through a map of `serde_json::Value`s and a serialisation: every request opens
/// a span, and storing its fields that way cost as much as the access line itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        writer.write_char('{')?;
        let mut visitor = Fields {
            w: &mut writer,
            comma: false,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_char('}')
    }

    /// Fields recorded after the span opened (`Span::record`, rare): merged into the stored
    /// object, a name recorded again replacing its value, as `JsonFields` does.
    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut added = String::new();
        self.format_fields(Writer::new(&mut added), fields)?;
        if current.fields.is_empty() {
            current.fields = added;
            return Ok(());
        }
        let mut merged: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&current.fields).map_err(|_| fmt::Error)?;
        let added: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&added).map_err(|_| fmt::Error)?;
        merged.extend(added);
        current.fields = serde_json::to_string(&merged).map_err(|_| fmt::Error)?;
        Ok(())
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

    use chrono::SubsecRound as _;
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
            let layer = layer
                .fmt_fields(JsonSpanFields)
                .event_format(JsonLines { stock });
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

    /// A span with a field of each kind, one of them recorded after it opened, then recorded
    /// again; a line inside it.
    fn span_of_every_kind(target_access: bool) {
        let span = tracing::info_span!(
            "upstream",
            name = "a \"quoted\" name",
            count = 3u64,
            delta = -2i64,
            whole = 1.0f64,
            ratio = 0.25f64,
            ok = true,
            shown = %"display é",
            debugged = ?Some(7),
            status = tracing::field::Empty
        );
        span.record("status", 200u64);
        span.record("status", 503u64);
        let _entered = span.enter();
        if target_access {
            tracing::info!(target: "access", status = 200u16, "request");
        } else {
            tracing::warn!(checkout = "chk_1", "something else");
        }
    }

    #[test]
    fn span_fields_are_stored_as_json_fields_stores_them() {
        for target_access in [true, false] {
            let stock = lines(false, || span_of_every_kind(target_access));
            let hand = lines(true, || span_of_every_kind(target_access));
            assert_eq!(hand, stock);
            let span = &hand[0]["span"];
            assert_eq!(span["status"], 503, "{span}");
            assert_eq!(span["whole"], serde_json::json!(1.0), "{span}");
            assert_eq!(span["debugged"], "Some(7)", "{span}");
        }
    }

    #[test]
    fn the_timestamp_is_utc_to_the_microsecond() {
        let before = chrono::Utc::now();
        let mut first = String::new();
        timestamp(&mut Writer::new(&mut first)).expect("written");
        let mut second = String::new();
        timestamp(&mut Writer::new(&mut second)).expect("written");
        let after = chrono::Utc::now();
        for text in [&first, &second] {
            assert_eq!(text.len(), "2026-12-05T05:08:08.460796Z".len(), "{text}");
            let at = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.6fZ")
                .expect(text)
                .and_utc();
            assert!(
                before.trunc_subsecs(6) <= at && at <= after,
                "{before} ≤ {text} ≤ {after}"
            );
        }
        assert!(first <= second, "{first} then {second}");
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
