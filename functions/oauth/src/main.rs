//! Lambda entry point of the oauth function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::lambda::serve(oauth::router).await
}
