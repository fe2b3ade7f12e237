//! Exported spans pass the same redaction as log lines: before a batch leaves for the OTLP
//! collector, every string in it (span names, attribute and event values, event names, the
//! status message) goes through [`redact::redact`]. A span field a future change fills with a
//! card number or a token is masked in the trace backend as in the logs.

use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::trace::Status;
use opentelemetry::{KeyValue, StringValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::redact;

/// Redacts every span of a batch, then hands it to the real exporter.
#[derive(Debug)]
pub struct RedactingExporter<E>(pub E);

impl<E: SpanExporter> SpanExporter for RedactingExporter<E> {
    fn export(
        &self,
        mut batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        for span in &mut batch {
            redact_span(span);
        }
        self.0.export(batch)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.0.set_resource(resource);
    }
}

/// Every string of `span`, redacted in place.
pub fn redact_span(span: &mut SpanData) {
    redact_cow(&mut span.name);
    redact_attributes(&mut span.attributes);
    for event in span.events.events.iter_mut() {
        redact_cow(&mut event.name);
        redact_attributes(&mut event.attributes);
    }
    if let Status::Error { description } = &span.status {
        span.status = Status::error(redact::redact(description));
    }
}

fn redact_cow(text: &mut Cow<'static, str>) {
    let redacted = redact::redact(text);
    if redacted != **text {
        *text = Cow::Owned(redacted);
    }
}

fn redact_attributes(attributes: &mut [KeyValue]) {
    for kv in attributes.iter_mut() {
        if let Value::String(s) = &kv.value {
            let redacted = redact::redact(s.as_str());
            if redacted != s.as_str() {
                kv.value = Value::String(StringValue::from(redacted));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanKind};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    #[test]
    fn card_numbers_and_tokens_are_masked_in_every_string_of_a_span() {
        let card = "4588883206000011";
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlc2lnbmF0dXJl";
        let mut events = SpanEvents::default();
        events.events.push(opentelemetry::trace::Event::new(
            format!("card {card}"),
            std::time::SystemTime::now(),
            vec![KeyValue::new("token", format!("Bearer {jwt}"))],
            0,
        ));
        let mut span = SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: opentelemetry::trace::SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: Cow::Owned(format!("pay {card}")),
            start_time: std::time::SystemTime::now(),
            end_time: std::time::SystemTime::now(),
            attributes: vec![
                KeyValue::new("body", format!("{{\"number\":\"{card}\"}}")),
                KeyValue::new("count", 3),
            ],
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status: Status::error(format!("failed for {card}")),
            instrumentation_scope: Default::default(),
        };
        redact_span(&mut span);
        let everything = format!("{span:?}");
        assert!(!everything.contains(card), "{everything}");
        assert!(!everything.contains(jwt), "{everything}");
        assert!(everything.contains("REDACTED"));
        assert_eq!(span.attributes[1].value, Value::I64(3));
    }
}
