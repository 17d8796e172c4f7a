//! [`Principal`]: who is calling, and the one scope check every service applies to its own
//! objects. Also the actix extractors [`Principal`] and [`MaybePrincipal`].

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::{Deserialize, Serialize};
use zw_domain::{IdNumber, JurisdictionCode};

use crate::{AuthError, Claims, Role, Verifier};

/// The verified caller of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Principal {
    /// The user's or service account's id (`sub`).
    pub subject: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// The jurisdiction it may act on, and everything under it.
    pub scope: JurisdictionCode,
    /// Data sets a department is entitled to.
    pub datasets: Vec<String>,
    /// The token's id (`jti`), for revocation and audit.
    pub token_id: String,
    /// Display name.
    pub name: Option<String>,
    /// A citizen's own resident ID number, bound to his account at real-name registration.
    #[schema(value_type = Option<String>)]
    pub id_number: Option<IdNumber>,
}

impl From<Claims> for Principal {
    fn from(c: Claims) -> Principal {
        Principal {
            subject: c.sub,
            roles: c.roles,
            scope: c.scope,
            datasets: c.datasets,
            token_id: c.jti,
            name: c.name,
            id_number: c.id_number,
        }
    }
}

impl Principal {
    /// Whether it has role `r`.
    pub fn has_role(&self, r: Role) -> bool {
        self.roles.contains(&r)
    }

    /// Whether it has at least one of `rs`.
    pub fn has_any_role(&self, rs: &[Role]) -> bool {
        rs.iter().any(|r| self.has_role(*r))
    }

    /// Whether `target` is its scope or lies under it.
    pub fn can_access(&self, target: &JurisdictionCode) -> bool {
        self.scope.contains(target)
    }

    /// The one scope check: `Ok` when `target` is within its jurisdiction, else 403
    /// [`AuthError::OutOfScope`]. Every service calls it on the objects it reads or writes.
    pub fn authorize(&self, target: &JurisdictionCode) -> Result<(), AuthError> {
        if self.can_access(target) {
            Ok(())
        } else {
            Err(AuthError::OutOfScope {
                target: target.clone(),
                scope: self.scope.clone(),
            })
        }
    }

    /// `Ok` when it has at least one of `rs`, else 403 [`AuthError::MissingRole`].
    pub fn require_role(&self, rs: &[Role]) -> Result<(), AuthError> {
        if self.has_any_role(rs) {
            Ok(())
        } else {
            Err(AuthError::MissingRole(rs.to_vec()))
        }
    }

    /// `Ok` when it is entitled to the data set `name`, else 403 [`AuthError::NotEntitled`].
    pub fn require_dataset(&self, name: &str) -> Result<(), AuthError> {
        if self.datasets.iter().any(|d| d == name) {
            Ok(())
        } else {
            Err(AuthError::NotEntitled(name.to_owned()))
        }
    }
}

/// The bearer token of a request: `Ok(None)` without an `Authorization` header, an error when the
/// header is there but not `Bearer <token>`.
pub fn bearer_token(req: &HttpRequest) -> Result<Option<String>, AuthError> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthError::NotBearer)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(AuthError::NotBearer);
    }
    Ok(Some(token.to_owned()))
}

fn verifier_of(req: &HttpRequest) -> Option<Verifier> {
    req.app_data::<web::Data<Verifier>>()
        .map(|d| d.get_ref().clone())
        .or_else(|| req.app_data::<Verifier>().cloned())
}

/// Authenticate a request: `Ok(None)` when it carries no `Authorization` header.
async fn authenticate(
    req: HttpRequest,
    token: Option<String>,
) -> Result<Option<Principal>, AuthError> {
    let Some(token) = token else { return Ok(None) };
    if let Some(p) = req.extensions().get::<Principal>() {
        return Ok(Some(p.clone()));
    }
    let Some(verifier) = verifier_of(&req) else {
        tracing::error!("a handler asks for a Principal but no web::Data<Verifier> is registered");
        return Err(AuthError::NotConfigured);
    };
    match verifier.verify(&token).await {
        Ok(p) => {
            req.extensions_mut().insert(p.clone());
            Ok(Some(p))
        }
        Err(e) => {
            tracing::debug!(reason = e.reason(), "access token refused");
            Err(e)
        }
    }
}

type Extracting<T> = Pin<Box<dyn Future<Output = Result<T, AuthError>>>>;

/// Extracts the verified caller from `Authorization: Bearer <jwt>` with the
/// `web::Data<Verifier>` registered in the app. No token, or a bad one: 401 problem+json with a
/// `WWW-Authenticate: Bearer` challenge.
impl FromRequest for Principal {
    type Error = AuthError;
    type Future = Extracting<Principal>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let token = bearer_token(&req)?.ok_or(AuthError::MissingToken)?;
            authenticate(req, Some(token))
                .await?
                .ok_or(AuthError::MissingToken)
        })
    }
}

/// An optional caller: `None` without an `Authorization` header; a header with a bad token is
/// still a 401 (a client that sends credentials wants to know they failed).
#[derive(Clone, Debug)]
pub struct MaybePrincipal(pub Option<Principal>);

impl FromRequest for MaybePrincipal {
    type Error = AuthError;
    type Future = Extracting<MaybePrincipal>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let token = bearer_token(&req)?;
            Ok(MaybePrincipal(authenticate(req, token).await?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, scope: &str) -> Principal {
        Principal {
            subject: "u1".into(),
            roles: vec![role],
            scope: JurisdictionCode::parse(scope).expect("scope"),
            datasets: vec!["police.cases".into()],
            token_id: "t1".into(),
            name: None,
            id_number: None,
        }
    }

    fn code(s: &str) -> JurisdictionCode {
        JurisdictionCode::parse(s).expect("code")
    }

    #[test]
    fn a_grid_worker_reaches_his_grid_and_nothing_beside_or_above_it() {
        let worker = principal(Role::GridWorker, "440304008001003");
        assert!(worker.authorize(&code("440304008001003")).is_ok());
        assert!(matches!(
            worker.authorize(&code("440304008001004")),
            Err(AuthError::OutOfScope { .. })
        ));
        assert!(!worker.can_access(&code("440304008001")));
        assert!(!worker.can_access(&code("440304")));
    }

    #[test]
    fn a_street_officer_reaches_everything_under_his_street_but_not_the_next_street() {
        let officer = principal(Role::StreetOfficer, "440304008");
        for inside in [
            "440304008",
            "440304008001",
            "440304008001003",
            "440304008010999",
        ] {
            assert!(officer.authorize(&code(inside)).is_ok(), "{inside}");
        }
        for outside in [
            "440304009",
            "440304009001",
            "440304009001003",
            "440304",
            "440305008",
        ] {
            assert!(officer.authorize(&code(outside)).is_err(), "{outside}");
        }
    }

    #[test]
    fn roles_and_data_sets_are_checked_separately_from_scope() {
        let dept = principal(Role::Department, "440304");
        assert!(dept.has_role(Role::Department));
        assert!(dept.require_role(&[Role::Admin, Role::Department]).is_ok());
        assert_eq!(
            dept.require_role(&[Role::Admin]),
            Err(AuthError::MissingRole(vec![Role::Admin]))
        );
        assert!(dept.require_dataset("police.cases").is_ok());
        assert!(matches!(
            dept.require_dataset("civil.marriages"),
            Err(AuthError::NotEntitled(_))
        ));
    }
}
