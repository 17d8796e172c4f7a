//! Password and client-secret hashing: argon2id with the crate's defaults (19 MiB, 2 passes,
//! 1 lane — OWASP's recommendation), as PHC strings. Hashing runs on the blocking pool so a
//! login never stalls the HTTP workers.
//!
//! [`Passwords::verify_or_dummy`] compares against a dummy hash when there is no account, so an
//! unknown name costs the same time as a wrong password and timing does not reveal names.

use std::sync::Arc;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};

/// Hashes and checks secrets. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    dummy: Arc<str>,
}

impl Passwords {
    /// Prepare the dummy hash (of a random secret nobody knows).
    pub async fn new() -> anyhow::Result<Passwords> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let dummy = hash_blocking(random.to_vec()).await?;
        Ok(Passwords {
            dummy: dummy.into(),
        })
    }

    /// Hash a new secret into a PHC string (`$argon2id$v=19$…`).
    pub async fn hash(&self, secret: &str) -> anyhow::Result<String> {
        hash_blocking(secret.as_bytes().to_vec()).await
    }

    /// Whether `secret` matches `hash`; with `hash` `None` (no such account) the dummy hash is
    /// checked instead and the answer is always `false`.
    pub async fn verify_or_dummy(&self, secret: &str, hash: Option<&str>) -> anyhow::Result<bool> {
        let known = hash.is_some();
        let hash = hash
            .map(str::to_owned)
            .unwrap_or_else(|| self.dummy.to_string());
        let secret = secret.as_bytes().to_vec();
        let ok = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| anyhow::anyhow!("stored hash is not a PHC string: {e}"))?;
            Ok(Argon2::default().verify_password(&secret, &parsed).is_ok())
        })
        .await
        .context("password check task")??;
        Ok(ok && known)
    }
}

async fn hash_blocking(secret: Vec<u8>) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let hash: PasswordHash = Argon2::default()
            .hash_password(&secret)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        Ok(hash.to_string())
    })
    .await
    .context("password hashing task")?
}

/// A new random client secret: 32 bytes, base64url (43 characters).
pub fn new_client_secret() -> anyhow::Result<String> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_secret_only_and_the_dummy_never_matches() {
        let p = Passwords::new().await.expect("passwords");
        let hash = p.hash("correct horse").await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            p.verify_or_dummy("correct horse", Some(&hash))
                .await
                .expect("check")
        );
        assert!(
            !p.verify_or_dummy("wrong horse", Some(&hash))
                .await
                .expect("check")
        );
        assert!(
            !p.verify_or_dummy("correct horse", None)
                .await
                .expect("check")
        );
        assert_eq!(new_client_secret().expect("secret").len(), 43);
    }
}
