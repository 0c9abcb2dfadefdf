//! `studio-local`: run the API locally, create sessions and API tokens.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    studio_local::cli::run().await
}
