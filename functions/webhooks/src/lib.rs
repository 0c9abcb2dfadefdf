//! The webhooks function: `POST/GET /ai/api/v1/config/webhook` and
//! `GET/PATCH/DELETE /ai/api/v1/config/webhook/{id}` (the shared resource routes,
//! [`shared::api::resource`]). A webhook receives the tenant's events of the types it names,
//! signed per the Standard Webhooks specification; its signing secret (`whsec_…`) is in the
//! create answer only.

use axum::Router;
use shared::{
    AppState,
    api::resource::{self, Collection, Op},
    model::{events::Event, webhook::StoredWebhook},
};
use utoipa::OpenApi;

/// Where and how webhooks are served.
pub const WEBHOOKS: Collection =
    Collection::new("/ai/api/v1/config/webhook", "webhooks", "webhook")
        .answers(&[(
            Op::Create,
            409,
            "The tenant already has the most webhooks it may have",
        )])
        .notes(&[(
            Op::Create,
            "Create a webhook. The answer carries its signing secret (`secret`, `whsec_…`) — the \
         only time it is shown. Deliveries are POSTs of the event as JSON with the Standard \
         Webhooks headers `webhook-id`, `webhook-timestamp` and `webhook-signature` \
         (`v1,<base64 HMAC-SHA256 of \"<id>.<timestamp>.<body>\">`, keyed with the base64-decoded \
         part of the secret after `whsec_`), retried with back-off (5 tries over about an hour).",
        )]);

/// The event schema, for receivers.
#[derive(OpenApi)]
#[openapi(components(schemas(Event)))]
struct EventDoc;

/// OpenAPI description of this function's endpoints.
pub struct ApiDoc;

impl OpenApi for ApiDoc {
    fn openapi() -> utoipa::openapi::OpenApi {
        resource::openapi::<StoredWebhook>(&WEBHOOKS).merge_from(EventDoc::openapi())
    }
}

/// The routes of this function.
pub fn router(state: AppState) -> Router {
    resource::routes::<StoredWebhook>(&WEBHOOKS).with_state(state)
}
