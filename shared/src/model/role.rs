//! The roles a credential can carry inside its tenant, and their order. Which operation needs
//! which role is the table of `crate::api::access`.

use serde::{Deserialize, Serialize};

/// What a credential may do inside its tenant (`crate::api::access` holds the table of who may
/// call what).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything (views never hold secrets), re-tests servers, connects and disconnects
    /// their own accounts of `per_user` configs, and uses agents' tools.
    Member,
    /// Everything in the tenant: creates, changes and deletes configurations, authorizes
    /// `shared` configs, approves tools, reads the audit log.
    Admin,
}

impl Role {
    /// The role's name as stored and shown (`admin`, `member`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
        }
    }

    /// Whether this role includes everything `needed` may do.
    pub fn allows(self, needed: Self) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            other => Err(format!("unknown role `{other}`: use `admin` or `member`")),
        }
    }
}
