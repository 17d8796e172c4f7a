//! The claims of a Zhiwang access token and the request to issue one.

use serde::{Deserialize, Serialize};
use zw_domain::{IdNumber, JurisdictionCode};

use crate::Role;

/// The payload of an access token (RFC 7519 registered claims plus Zhiwang's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: `auth.issuer`.
    pub iss: String,
    /// Subject: the user's or service account's id.
    pub sub: String,
    /// Audience: `auth.audience`.
    pub aud: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Not before, seconds since the Unix epoch.
    pub nbf: i64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Token id (for revocation and audit).
    pub jti: String,
    /// What the principal may do.
    pub roles: Vec<Role>,
    /// Where: the jurisdiction code the principal may act on (and everything under it).
    pub scope: JurisdictionCode,
    /// Data sets a department is entitled to.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A citizen's own resident ID number, bound to his account at real-name registration:
    /// what he may declare as himself. Absent for staff and service accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<IdNumber>,
}

/// What to put into a token: the caller has already authenticated the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The user's or service account's id.
    pub subject: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Its scope.
    pub scope: JurisdictionCode,
    /// Its data sets (departments).
    pub datasets: Vec<String>,
    /// Its display name.
    pub name: Option<String>,
    /// A citizen's own ID number (real-name registration).
    pub id_number: Option<IdNumber>,
}
