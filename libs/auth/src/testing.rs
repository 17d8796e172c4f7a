//! Test helpers other crates' integration tests use: an issuer with a fresh Ed25519 key and a
//! verifier that trusts it. Always compiled (it is small and holds no secrets worth guarding).

use std::time::Duration;

use zw_domain::JurisdictionCode;
use zw_platform::config::AuthSettings;

use crate::{Issuer, KeyPair, Role, SigningAlgorithm, TokenRequest, Verifier};

/// An [`Issuer`] with a fresh key and a [`Verifier`] that trusts exactly that key.
#[derive(Clone, Debug)]
pub struct TestIssuer {
    /// Signs tokens with `settings.issuer` / `settings.audience`, valid for 15 minutes.
    pub issuer: Issuer,
    /// A fixed verifier over the issuer's key set.
    pub verifier: Verifier,
}

impl TestIssuer {
    /// A new key and the pair built on it.
    ///
    /// # Panics
    /// When the operating system has no randomness to give.
    pub fn new(settings: &AuthSettings) -> Self {
        let key = KeyPair::generate(SigningAlgorithm::EdDSA)
            .expect("an Ed25519 test key can always be generated");
        let issuer = Issuer::new(
            key,
            Vec::new(),
            settings.issuer.clone(),
            settings.audience.clone(),
            Duration::from_secs(900),
        );
        let verifier = Verifier::fixed(issuer.jwks(), settings);
        TestIssuer { issuer, verifier }
    }

    /// A token for `subject` with one role and the scope `scope`.
    ///
    /// # Panics
    /// When `scope` is not a valid jurisdiction code.
    pub fn token(&self, role: Role, scope: &str, subject: &str) -> String {
        self.token_for(&TokenRequest {
            subject: subject.to_owned(),
            roles: vec![role],
            scope: JurisdictionCode::parse(scope)
                .unwrap_or_else(|e| panic!("test scope {scope:?} is not a code: {e}")),
            datasets: Vec::new(),
            name: None,
            id_number: None,
        })
    }

    /// A token for any request (several roles, data sets, a name).
    ///
    /// # Panics
    /// Never in practice: signing with a freshly generated key does not fail.
    pub fn token_for(&self, req: &TokenRequest) -> String {
        self.issuer
            .issue(req)
            .expect("the test issuer signs")
            .access_token
    }
}
