//! Logging setup: JSON lines in Lambda (CloudWatch), compact human text locally. Every function's
//! `main` calls one of these once. Secrets never reach a log field: they live in `SecretString`,
//! whose Debug output is redacted.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"))
}

/// JSON logs without ANSI colours or timestamps (Lambda adds its own), for a Lambda function.
pub fn init_lambda() {
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(
            fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_ansi(false)
                .without_time()
                .with_target(false),
        )
        .try_init();
}

/// Human-readable logs on standard error, for the local stack and command-line tools.
pub fn init_local() {
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(fmt::layer().compact().with_writer(std::io::stderr))
        .try_init();
}
