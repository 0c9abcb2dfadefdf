//! Lambda entry point of the auth-configs function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::lambda::serve(auth_configs::router).await
}
