//! Log output.
//!
//! Production logs are one JSON object a line so that the log pipeline can index them without
//! parsing text: the event's own fields, the fields of every span it happened in (so a
//! `request_id` recorded on the request span appears on every line of that request), the
//! `service`, and the OpenTelemetry `trace_id`/`span_id` when the event happened inside a traced
//! span, which links a log line to its trace. Development logs are readable single lines.
//!
//! Both formats print `[REDACTED]` for any field whose name [`is_sensitive_name`], as a last line
//! of defence behind the [`Secret`](crate::Secret) type.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, OnceLock},
};

use opentelemetry::trace::TraceContextExt;
use serde_json::Value;
use tracing::{
    Event, Subscriber,
    dispatcher::{Dispatch, WeakDispatch},
    field::{Field, Visit},
};
use tracing_subscriber::{
    Layer,
    field::MakeExt,
    fmt::{
        self as tsfmt, FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter,
        format::{JsonFields, Writer, debug_fn},
    },
    registry::LookupSpan,
};

use super::scrub::is_sensitive_name;
pub use crate::secret::REDACTED;

/// Keys the formatter writes itself; an event or span field with one of these names is kept
/// under `field.<name>` rather than overwriting them.
const RESERVED: &[&str] = &[
    "timestamp",
    "level",
    "target",
    "service",
    "message",
    "trace_id",
    "span_id",
    "span",
    "spans",
];

/// The JSON log layer for `service`, writing to `make_writer` (stdout in production).
///
/// The returned layer must be installed directly (not inside an `Option`), because it learns the
/// dispatcher it is installed in, which it needs to read span trace ids.
pub fn json_layer<S, W>(service: &'static str, make_writer: W) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let dispatch = DispatchSlot::default();
    let format = JsonFormat {
        service,
        dispatch: dispatch.clone(),
    };
    dispatch.and_then(
        tsfmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(format)
            .with_writer(make_writer),
    )
}

/// The human-readable log layer (local development): one line per event with its spans, and
/// sensitive fields redacted.
pub fn pretty_layer<S>() -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tsfmt::layer().fmt_fields(redacting_fields())
}

/// The same redacting field formatter for the test writer.
pub(crate) fn redacting_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(
        |writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
            if field.name() == "message" {
                write!(writer, "{value:?}")
            } else if is_sensitive_name(field.name()) {
                write!(writer, "{}={REDACTED}", field.name())
            } else {
                write!(writer, "{}={value:?}", field.name())
            }
        },
    )
    .delimited(" ")
}

/// Remembers the dispatcher the layer stack was installed in. The OpenTelemetry layer keeps each
/// span's trace context in span data that only the dispatcher can hand out, and the formatter is
/// not told which dispatcher it runs under.
#[derive(Clone, Default)]
struct DispatchSlot(Arc<OnceLock<WeakDispatch>>);

impl DispatchSlot {
    fn get(&self) -> Option<Dispatch> {
        self.0.get().and_then(WeakDispatch::upgrade)
    }
}

impl<S: Subscriber> Layer<S> for DispatchSlot {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.0.set(subscriber.downgrade());
    }
}

/// Writes one JSON object per event.
struct JsonFormat {
    service: &'static str,
    dispatch: DispatchSlot,
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut fields = BTreeMap::new();
        let mut span_names = Vec::new();
        let mut leaf = None;

        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                span_names.push(Value::String(span.name().to_owned()));
                leaf = Some(span.id());
                let extensions = span.extensions();
                if let Some(formatted) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(span_fields)) =
                        serde_json::from_str::<Value>(formatted.as_str())
                {
                    for (name, value) in span_fields {
                        insert_field(&mut fields, name, value);
                    }
                }
            }
        }

        let mut visitor = JsonVisitor::default();
        event.record(&mut visitor);
        for (name, value) in visitor.fields {
            insert_field(&mut fields, name, value);
        }

        // Events bridged from the `log` crate carry their real target as a field.
        let target = match fields.remove("log.target") {
            Some(Value::String(target)) => target,
            _ => metadata.target().to_owned(),
        };
        fields.retain(|name, _| !name.starts_with("log."));

        let mut line = Line::new(&mut writer)?;
        line.entry(
            "timestamp",
            &Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        )?;
        line.entry(
            "level",
            &Value::String(metadata.level().as_str().to_owned()),
        )?;
        line.entry("service", &Value::String(self.service.to_owned()))?;
        line.entry("target", &Value::String(target))?;
        if let Some(message) = visitor.message {
            line.entry("message", &Value::String(message))?;
        }
        if let Some((trace_id, span_id)) = leaf.and_then(|id| self.trace_ids(&id)) {
            line.entry("trace_id", &Value::String(trace_id))?;
            line.entry("span_id", &Value::String(span_id))?;
        }
        if let Some(Value::String(current)) = span_names.last() {
            line.entry("span", &Value::String(current.clone()))?;
            line.entry("spans", &Value::Array(span_names))?;
        }
        for (name, value) in &fields {
            line.entry(name, value)?;
        }
        line.finish()
    }
}

impl JsonFormat {
    /// The trace and span id of the OpenTelemetry span behind tracing span `id`, if it has one.
    fn trace_ids(&self, id: &tracing::span::Id) -> Option<(String, String)> {
        let dispatch = self.dispatch.get()?;
        let context = tracing_opentelemetry::get_otel_context(id, &dispatch)?;
        let span = context.span();
        let span_context = span.span_context();
        span_context.is_valid().then(|| {
            (
                span_context.trace_id().to_string(),
                span_context.span_id().to_string(),
            )
        })
    }
}

fn insert_field(fields: &mut BTreeMap<String, Value>, name: String, value: Value) {
    let value = if is_sensitive_name(&name) {
        Value::String(REDACTED.to_owned())
    } else {
        value
    };
    let name = if RESERVED.contains(&name.as_str()) {
        format!("field.{name}")
    } else {
        name
    };
    fields.insert(name, value);
}

/// Writes a JSON object to a formatter one entry at a time.
struct Line<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
}

impl<'a, 'w> Line<'a, 'w> {
    fn new(writer: &'a mut Writer<'w>) -> Result<Self, fmt::Error> {
        writer.write_char('{')?;
        Ok(Self {
            writer,
            first: true,
        })
    }

    fn entry(&mut self, key: &str, value: &Value) -> fmt::Result {
        if !self.first {
            self.writer.write_char(',')?;
        }
        self.first = false;
        let key = serde_json::to_string(key).map_err(|_| fmt::Error)?;
        let value = serde_json::to_string(value).map_err(|_| fmt::Error)?;
        self.writer.write_str(&key)?;
        self.writer.write_char(':')?;
        self.writer.write_str(&value)
    }

    fn finish(self) -> fmt::Result {
        self.writer.write_str("}\n")
    }
}

/// Collects an event's fields as JSON values, keeping numbers and booleans typed.
#[derive(Default)]
struct JsonVisitor {
    message: Option<String>,
    fields: BTreeMap<String, Value>,
}

impl JsonVisitor {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for JsonVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(value.to_string()));
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole chain: the outermost message alone rarely says what failed.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.put(field, Value::String(text));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Collects everything written so the test can read the lines back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        fn lines(&self) -> Vec<Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        }
    }

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_carry_service_span_fields_and_trace_id() {
        let buffer = Buffer::default();
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(json_layer("identity", buffer.clone()));

        let expected_trace_id = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "req-42", route = "/v1/me");
            let _entered = span.enter();
            tracing::info!(
                user_id = 7,
                session_token = "tok-secret",
                service = "spoof",
                "signed in"
            );
            span.context().span().span_context().trace_id().to_string()
        });

        let lines = buffer.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["service"], "identity");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "signed in");
        assert_eq!(line["request_id"], "req-42");
        assert_eq!(line["route"], "/v1/me");
        assert_eq!(line["user_id"], 7);
        assert_eq!(line["session_token"], REDACTED);
        assert_eq!(line["field.service"], "spoof");
        assert_eq!(line["span"], "request");
        assert_eq!(line["spans"], serde_json::json!(["request"]));
        assert_eq!(expected_trace_id.len(), 32);
        assert_ne!(expected_trace_id, "0".repeat(32));
        assert_eq!(line["trace_id"], expected_trace_id.as_str());
        assert!(!line.to_string().contains("tok-secret"));
    }

    #[test]
    fn json_lines_outside_spans_have_no_trace_id() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(json_layer("media", buffer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(attempt = 3, "retrying");
        });
        let lines = buffer.lines();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["service"], "media");
        assert_eq!(lines[0]["attempt"], 3);
        assert!(lines[0].get("trace_id").is_none());
        assert!(lines[0].get("span").is_none());
    }
}
