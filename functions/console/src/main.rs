//! Lambda entry point of the console function.

// Lambda hands an instance one invocation at a time: one thread runs it (ARCHITECTURE, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_lambda();
    shared::api::lambda::run(shared::api::with_fallbacks(
        console::router().merge(console::published_documents()),
    ))
    .await
}
