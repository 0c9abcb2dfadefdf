//! Lambda entry point of the auth-configs function.

// Lambda hands an instance one invocation at a time: one thread runs it (ARCHITECTURE, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::lambda::serve(auth_configs::router).await
}
