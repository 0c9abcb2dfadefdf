//! Who is acting: the authenticated caller of a request (or the identity a scheduled pass acts
//! with), scoped to one tenant, with the role of their credential.

pub use super::role::Role;
use crate::Error;

/// The authenticated caller: set by the API Gateway authorizer (request context) or, locally, by
/// the authorizer middleware. Every record is scoped to `tenant_id`; `role` bounds what the
/// caller may change there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Tenant whose records the caller sees.
    pub tenant_id: String,
    /// The user acting.
    pub user_id: String,
    /// What the caller's credential may do in the tenant.
    pub role: Role,
}

impl Principal {
    /// The user `user_id` of tenant `tenant_id`, acting with `role`.
    pub fn new(tenant_id: impl Into<String>, user_id: impl Into<String>, role: Role) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            user_id: user_id.into(),
            role,
        }
    }

    /// An administrator of the tenant (scheduled passes, the CLI, tests of admin work).
    pub fn admin(tenant_id: impl Into<String>, user_id: impl Into<String>) -> Self {
        Self::new(tenant_id, user_id, Role::Admin)
    }

    /// A member of the tenant.
    pub fn member(tenant_id: impl Into<String>, user_id: impl Into<String>) -> Self {
        Self::new(tenant_id, user_id, Role::Member)
    }

    /// A 403 refusal unless this caller's role includes `needed`, for the decisions that need a
    /// record as well as the route (the route's own rule is checked before any handler runs,
    /// by `crate::api::access`). `what` completes "Your role (member) may not …".
    pub fn require(&self, needed: Role, what: &str) -> Result<(), Error> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                needs: needed,
                detail: format!("Your role ({}) may not {what}.", self.role),
            })
        }
    }
}

/// Whether `id` is an acceptable tenant or user id: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}
