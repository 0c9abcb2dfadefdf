//! List pagination over HTTP: `?limit=` (default 50, max 200) and an opaque `next_token`, parsed
//! into the domain's [`ListParams`]; a list response is the domain's
//! [`crate::model::resource::Page`], `{"items": [...], "next_token": "..."|null}`.

use axum::{extract::FromRequestParts, http::request::Parts};

use super::ApiError;
use crate::{model::resource::ListParams, store::decode_page_token};

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest accepted `limit`.
pub const MAX_LIMIT: usize = 200;

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_list_query(parts.uri.query(), &[]).map(|(params, _)| params)
    }
}

/// Parses a list's query string: `limit` and `next_token`, plus the parameters named in `extra`
/// (each at most once, returned by name); any other parameter is refused.
pub fn parse_list_query(
    query: Option<&str>,
    extra: &[&str],
) -> Result<(ListParams, Vec<(String, String)>), ApiError> {
    let mut limit = None;
    let mut token = None;
    let mut others: Vec<(String, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let slot = match name.as_ref() {
            "limit" => &mut limit,
            "next_token" => &mut token,
            other if extra.contains(&other) => {
                if others.iter().any(|(n, _)| n == other) {
                    return Err(ApiError::field(other.to_owned(), "is given more than once"));
                }
                others.push((other.to_owned(), value.into_owned()));
                continue;
            }
            other => {
                return Err(ApiError::field(
                    other.to_owned(),
                    "is not a known query parameter",
                ));
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(ApiError::field(
                name.into_owned(),
                "is given more than once",
            ));
        }
    }
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::field("limit", format!("must be an integer from 1 to {MAX_LIMIT}"))
            })?,
    };
    let start_after = match token {
        None => None,
        Some(token) if token.is_empty() => None,
        Some(token) => Some(decode_page_token(&token).ok_or_else(|| {
            ApiError::field(
                "next_token",
                "must be a next_token from a previous page (base64url, at most 2048 characters)",
            )
        })?),
    };
    Ok((ListParams { limit, start_after }, others))
}
