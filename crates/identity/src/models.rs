//! Rows of `df_identity` and the domain types built from them.

use chrono::{DateTime, Utc};
use df_common::{Error, auth::Role, ids::UserId};
use diesel::prelude::*;

use crate::schema::users;

/// Whether an account may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AccountStatus {
    /// Normal.
    Active,
    /// Temporarily barred (moderation penalty); may be lifted.
    Suspended,
    /// Permanently barred.
    Banned,
}

impl AccountStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Banned => "banned",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            "banned" => Self::Banned,
            _ => return None,
        })
    }
}

/// A `users` row.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserRow {
    /// Id.
    pub id: UserId,
    /// Normalized email.
    pub email: String,
    /// Public handle.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role name.
    pub role: String,
    /// Status name.
    pub status: String,
    /// When the email was verified.
    pub email_verified_at: Option<DateTime<Utc>>,
    /// Sign-up time.
    pub created_at: DateTime<Utc>,
}

/// A user as the rest of the service sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Normalized email.
    pub email: String,
    /// Public handle.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Status.
    pub status: AccountStatus,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// Sign-up time.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = Error;

    fn try_from(row: UserRow) -> Result<Self, Error> {
        Ok(Self {
            id: row.id,
            role: Role::parse(&row.role)
                .ok_or_else(|| Error::internal(anyhow::anyhow!("unknown role")))?,
            status: AccountStatus::parse(&row.status)
                .ok_or_else(|| Error::internal(anyhow::anyhow!("unknown status")))?,
            email_verified: row.email_verified_at.is_some(),
            email: row.email,
            username: row.username,
            created_at: row.created_at,
        })
    }
}
