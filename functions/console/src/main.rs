//! Lambda entry point of the console function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_lambda();
    shared::api::lambda::run(shared::api::with_fallbacks(
        console::router().merge(console::published_documents()),
    ))
    .await
}
