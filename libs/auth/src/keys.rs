//! Signing keys: [`SigningAlgorithm`] and [`KeyPair`] (a private key with its id and public JWK).
//!
//! Keys are stored as PKCS#8 DER (RFC 5958). Ed25519 keys come from 32 bytes of operating-system
//! randomness; RSA keys have a 2048-bit modulus and exponent 65537.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;

use crate::{AuthError, Jwk};

/// Modulus size of generated RSA keys.
pub const RSA_BITS: usize = 2048;

/// The algorithms Zhiwang signs and accepts tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// Ed25519 (RFC 8037): small keys, fast, the default.
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256, for relying parties that only know RSA.
    RS256,
}

impl SigningAlgorithm {
    /// The JOSE name (`"EdDSA"`, `"RS256"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::EdDSA => "EdDSA",
            SigningAlgorithm::RS256 => "RS256",
        }
    }

    /// The JWK key type this algorithm needs (`OKP`, `RSA`).
    pub const fn key_type(self) -> &'static str {
        match self {
            SigningAlgorithm::EdDSA => "OKP",
            SigningAlgorithm::RS256 => "RSA",
        }
    }

    pub(crate) fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            SigningAlgorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            SigningAlgorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlgorithm {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        match s {
            "EdDSA" => Ok(SigningAlgorithm::EdDSA),
            "RS256" => Ok(SigningAlgorithm::RS256),
            other => Err(AuthError::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

/// A signing key: its id, algorithm, private key (PKCS#8 DER) and public JWK.
///
/// `Debug` never prints the private key.
#[derive(Clone)]
pub struct KeyPair {
    kid: String,
    alg: SigningAlgorithm,
    pkcs8: Vec<u8>,
    encoding: EncodingKey,
    public: Jwk,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

impl KeyPair {
    /// A fresh key with a new key id (a UUIDv7, so ids sort by creation time).
    ///
    /// RSA generation takes a moment (a second or so); call it off the async executor
    /// (`spawn_blocking`) in a server.
    pub fn generate(alg: SigningAlgorithm) -> Result<KeyPair, AuthError> {
        let kid = uuid::Uuid::now_v7().simple().to_string();
        let der = match alg {
            SigningAlgorithm::EdDSA => {
                use ed25519_dalek::pkcs8::EncodePrivateKey;
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| AuthError::Key(e.to_string()))?;
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                let der = key
                    .to_pkcs8_der()
                    .map_err(|e| AuthError::Key(e.to_string()))?;
                der.as_bytes().to_vec()
            }
            SigningAlgorithm::RS256 => {
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::PrivateKey::new(&mut getrandom::SysRng, RSA_BITS)
                    .map_err(|e| AuthError::Key(e.to_string()))?;
                let der = key
                    .to_pkcs8_der()
                    .map_err(|e| AuthError::Key(e.to_string()))?;
                der.as_bytes().to_vec()
            }
        };
        KeyPair::from_pkcs8_der(kid, alg, &der)
    }

    /// A key read back from storage.
    pub fn from_pkcs8_der(
        kid: impl Into<String>,
        alg: SigningAlgorithm,
        der: &[u8],
    ) -> Result<KeyPair, AuthError> {
        let kid = kid.into();
        if kid.is_empty() {
            return Err(AuthError::Key("a key id cannot be empty".into()));
        }
        let bad = |e: &dyn fmt::Display| AuthError::Key(format!("key {kid}: {e}"));
        let (encoding, public) = match alg {
            SigningAlgorithm::EdDSA => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                let key = ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(|e| bad(&e))?;
                let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
                let public = Jwk {
                    kty: "OKP".into(),
                    kid: Some(kid.clone()),
                    alg: Some(alg.as_str().into()),
                    key_use: Some("sig".into()),
                    crv: Some("Ed25519".into()),
                    x: Some(x),
                    n: None,
                    e: None,
                };
                (EncodingKey::from_ed_der(der), public)
            }
            SigningAlgorithm::RS256 => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                use rsa::pkcs8::DecodePrivateKey;
                use rsa::traits::PublicKeyParts;
                let key = rsa::PrivateKey::from_pkcs8_der(der).map_err(|e| bad(&e))?;
                if key.size() * 8 < RSA_BITS {
                    return Err(bad(&format!("an RSA key needs at least {RSA_BITS} bits")));
                }
                // jsonwebtoken signs with PKCS#1 DER.
                let pkcs1 = key.to_pkcs1_der().map_err(|e| bad(&e))?;
                let public = Jwk {
                    kty: "RSA".into(),
                    kid: Some(kid.clone()),
                    alg: Some(alg.as_str().into()),
                    key_use: Some("sig".into()),
                    crv: None,
                    x: None,
                    n: Some(URL_SAFE_NO_PAD.encode(key.n_bytes())),
                    e: Some(URL_SAFE_NO_PAD.encode(key.e_bytes())),
                };
                (EncodingKey::from_rsa_der(pkcs1.as_bytes()), public)
            }
        };
        Ok(KeyPair {
            kid,
            alg,
            pkcs8: der.to_vec(),
            encoding,
            public,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The private key as PKCS#8 DER, for storage.
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        self.pkcs8.clone()
    }

    /// The public key as a JWK (with `kid`, `alg` and `use: sig`).
    pub fn public_jwk(&self) -> Jwk {
        self.public.clone()
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ed25519_key_survives_storage_and_publishes_an_okp_jwk() {
        let key = KeyPair::generate(SigningAlgorithm::EdDSA).expect("generate");
        let back =
            KeyPair::from_pkcs8_der(key.kid(), key.alg(), &key.to_pkcs8_der()).expect("read");
        assert_eq!(back.public_jwk(), key.public_jwk());
        let jwk = key.public_jwk();
        assert_eq!(jwk.kty, "OKP");
        assert_eq!(jwk.crv.as_deref(), Some("Ed25519"));
        let x = URL_SAFE_NO_PAD
            .decode(jwk.x.unwrap_or_default())
            .expect("base64url");
        assert_eq!(x.len(), 32);
        assert!(!format!("{key:?}").contains(&format!("{:?}", key.to_pkcs8_der())));
    }

    #[test]
    fn garbage_is_not_a_key() {
        let err = KeyPair::from_pkcs8_der("k", SigningAlgorithm::EdDSA, b"nope").expect_err("bad");
        assert!(matches!(err, AuthError::Key(_)));
        assert!("HS256".parse::<SigningAlgorithm>().is_err());
    }
}
