//! Lambda entry point of the agents function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::lambda::serve(agents::router).await
}
