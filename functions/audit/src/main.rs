//! Lambda entry point of the audit function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::lambda::serve(audit::router).await
}
