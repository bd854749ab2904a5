//! Log set-up: human lines by default, JSON with `TWISTERLAB_LOG_FORMAT=json`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured filter. Logs go
/// to stderr, so a command's own output on stdout (`TOKEN=$(twisterlab-portal create-token …)`)
/// stays clean.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // PostgreSQL's NOTICEs ("relation already exists, skipping") are not news to an operator.
    let filter = match "sqlx::postgres::notice=warn".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false))
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber; nothing to report.
    let _ = result;
}

/// An error with its causes, `a: b: c`, because transport errors hide the useful part deep in
/// the chain ("connection refused"). A cause whose text the message already contains is not
/// repeated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        cause: Option<Box<Layer>>,
    }

    fn layer(text: &'static str, cause: Option<Layer>) -> Layer {
        Layer { text, cause: cause.map(Box::new) }
    }

    #[test]
    fn an_error_reads_with_every_cause_once() {
        let e = layer(
            "error sending request",
            Some(layer("client error (Connect)", Some(layer("Connection refused", None)))),
        );
        assert_eq!(error_chain(&e), "error sending request: client error (Connect): Connection refused");
        let repeated =
            layer("tcp connect error: Connection refused", Some(layer("Connection refused", None)));
        assert_eq!(error_chain(&repeated), "tcp connect error: Connection refused");
    }
}
