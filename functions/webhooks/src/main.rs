//! Lambda entry point of the webhooks function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::lambda::serve(webhooks::router).await
}
