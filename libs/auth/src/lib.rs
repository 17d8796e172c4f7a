//! Authentication and authorization for every Zhiwang service.
//!
//! - [`role`]: [`Role`] and the scope level each role has.
//! - [`claims`]: [`Claims`] of an access token and the [`TokenRequest`] to issue one.
//! - [`principal`]: [`Principal`], the verified caller, with the one scope check
//!   ([`Principal::authorize`]) every service applies to its own objects; the actix extractors
//!   `Principal` and [`MaybePrincipal`].
//! - [`jwk`]: [`Jwk`] and [`Jwks`] (RFC 7517) as published by the identity service.
//! - [`keys`]: [`SigningAlgorithm`] (EdDSA, RS256) and [`KeyPair`] (PKCS#8 private key + JWK).
//! - [`issuer`]: [`Issuer`], signing access tokens (`typ: at+jwt`) with the active key,
//!   publishing active + previous keys.
//! - [`verifier`]: [`Verifier`], checking tokens against a fixed or fetched (cached, refreshed)
//!   key set and revocation list; every rule a token must pass is listed there.
//! - [`revocation`]: retired keys, revoked tokens and signed-out subjects: the
//!   [`RevocationList`] identity serves, and [`Verifier::follow`], which applies identity's
//!   revocation events from the bus at once.
//! - [`error`]: [`AuthError`], 401 / 403 as problem+json with a `WWW-Authenticate` challenge.
//! - [`testing`]: [`testing::TestIssuer`] for other crates' tests.
//!
//! A service registers `web::Data<Verifier>` and takes `principal: Principal` in its handlers;
//! the gateway does the same check, but every service verifies again (defence in depth). The
//! process that builds a remote verifier also starts [`Verifier::follow`] on the bus.

pub mod claims;
pub mod error;
pub mod issuer;
pub mod jwk;
pub mod keys;
pub mod principal;
pub mod revocation;
pub mod role;
pub mod testing;
pub mod verifier;

pub use claims::{Claims, TokenRequest};
pub use error::AuthError;
pub use issuer::{IssuedToken, Issuer};
pub use jwk::{Jwk, Jwks};
pub use keys::{KeyPair, SigningAlgorithm};
pub use principal::{MaybePrincipal, Principal, bearer_token};
pub use revocation::{Revocation, RevocationList, fingerprint};
pub use role::{Role, UnknownRole};
pub use verifier::Verifier;

#[cfg(test)]
mod tests;
