//! The keys that sign a service's tree heads, kept outside its database.
//!
//! Whoever holds a database could rewrite its log and re-sign every head with a key stored in
//! the same database, so the key lives in a file of its own: `<keys_dir>/<service>.json`
//! (mode 0600), created by `zhiwang keys generate` (or by `zhiwang up` on first start) and, in
//! Kubernetes, mounted read-only from a Secret. The file keeps the history: a rotation retires
//! the current key (its secret is dropped, its public key stays, so the heads it signed still
//! verify) and adds a new one. What a service publishes of it is [`PublishedKeys`], which clients
//! and monitors pin. The format is documented in `docs/evidence.md`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound as _, Utc};
use serde::{Deserialize, Serialize};

use crate::record::rfc3339_micros;
use crate::tree_head::{EvidencePublicKey, EvidenceSigner};

/// The `format` of a key file this version writes and reads.
pub const KEY_FILE_FORMAT: &str = "zhiwang-evidence-keys-v1";

/// Why a key file could not be used. Each message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error(
        "no evidence signing key file at {path}: create it with `zhiwang keys generate {service} --output {path}` \
         (in Kubernetes: put it in the evidence keys Secret), or set evidence.create_missing_key = true"
    )]
    Missing { path: PathBuf, service: String },
    #[error(
        "{path} already exists; `zhiwang keys rotate` replaces a key, generate never overwrites one"
    )]
    Exists { path: PathBuf },
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid evidence key file: {detail}")]
    Invalid { path: PathBuf, detail: String },
}

/// One key of a service, current or retired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// First 16 hex digits of SHA-256 of the public key.
    pub key_id: String,
    /// Base64 Ed25519 public key.
    pub public_key: String,
    /// From when it signs.
    #[serde(with = "rfc3339_micros")]
    pub valid_from: DateTime<Utc>,
    /// When it stopped signing (`null` for the current key).
    #[serde(with = "rfc3339_micros::option", default)]
    pub retired_at: Option<DateTime<Utc>>,
    /// Hex Ed25519 seed: only the current key keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A service's key file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    /// Always [`KEY_FILE_FORMAT`].
    pub format: String,
    /// The service whose heads these keys sign.
    pub service: String,
    /// Oldest first; the last is the current one.
    pub keys: Vec<KeyEntry>,
}

/// Whether a published key signs now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Current,
    Retired,
}

/// A public key as a service publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishedKey {
    /// First 16 hex digits of SHA-256 of the 32-byte public key; tree heads name it.
    pub key_id: String,
    /// Base64 Ed25519 public key.
    pub public_key: String,
    #[serde(with = "rfc3339_micros")]
    pub valid_from: DateTime<Utc>,
    #[serde(with = "rfc3339_micros::option", default)]
    pub retired_at: Option<DateTime<Utc>>,
    pub status: KeyStatus,
}

/// Every key that ever signed a service's heads: `GET /api/v1/<service>/evidence/keys`, what
/// clients and monitors pin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishedKeys {
    pub service: String,
    pub keys: Vec<PublishedKey>,
    /// How the log's C2SP checkpoints (`…/evidence/checkpoint`) are signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointKey>,
}

/// The name and note verifier key of a log's checkpoints, as signed-note tooling and witnesses
/// are configured with them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointKey {
    /// The key name, first line of every checkpoint: `<evidence.checkpoint_origin>/<service>`.
    pub origin: String,
    /// `<origin>+<key id>+<base64(0x01 ‖ Ed25519 key)>` of the current key.
    pub verifier_key: String,
}

/// The keys a verifier trusts, by key id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedKeys(BTreeMap<String, EvidencePublicKey>);

impl TrustedKeys {
    pub fn new(keys: impl IntoIterator<Item = EvidencePublicKey>) -> TrustedKeys {
        TrustedKeys(keys.into_iter().map(|k| (k.key_id(), k)).collect())
    }

    /// The keys of a published list (or a saved copy of it). Fails on a key that does not parse
    /// or whose id is not its own.
    pub fn from_published(published: &PublishedKeys) -> Result<TrustedKeys, String> {
        let mut keys = Vec::with_capacity(published.keys.len());
        for k in &published.keys {
            let key = EvidencePublicKey::from_base64(&k.public_key)
                .map_err(|_| format!("key {} is not a valid Ed25519 public key", k.key_id))?;
            if key.key_id() != k.key_id {
                return Err(format!("key {} is published under another id", k.key_id));
            }
            keys.push(key);
        }
        Ok(TrustedKeys::new(keys))
    }

    pub fn get(&self, key_id: &str) -> Option<&EvidencePublicKey> {
        self.0.get(key_id)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn insert(&mut self, key: EvidencePublicKey) {
        self.0.insert(key.key_id(), key);
    }
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn entry_for(signer: &EvidenceSigner, valid_from: DateTime<Utc>) -> KeyEntry {
    KeyEntry {
        key_id: signer.key_id(),
        public_key: signer.public_key_base64(),
        valid_from,
        retired_at: None,
        secret: Some(hex::encode(signer.to_secret_bytes())),
    }
}

impl KeyFile {
    /// A new file holding one fresh key.
    pub fn generate(service: &str) -> KeyFile {
        KeyFile {
            format: KEY_FILE_FORMAT.to_owned(),
            service: service.to_owned(),
            keys: vec![entry_for(&EvidenceSigner::generate(), now())],
        }
    }

    /// Retires the current key now and adds a fresh current one; returns its id.
    pub fn rotate(&mut self) -> String {
        let at = now();
        for key in &mut self.keys {
            if key.retired_at.is_none() {
                key.retired_at = Some(at);
            }
            key.secret = None;
        }
        let fresh = EvidenceSigner::generate();
        self.keys.push(entry_for(&fresh, at));
        fresh.key_id()
    }

    /// Whether the file knows the key `key_id` (current or retired).
    pub fn knows(&self, key_id: &str) -> bool {
        self.keys.iter().any(|k| k.key_id == key_id)
    }

    /// Records a key that signed before this file existed (the one a service once kept in its
    /// database) as retired at `retired_at`, keeping only its public part. The current key stays.
    pub fn adopt_retired(
        &mut self,
        old: &EvidencePublicKey,
        valid_from: DateTime<Utc>,
        retired_at: DateTime<Utc>,
    ) {
        if self.knows(&old.key_id()) {
            return;
        }
        self.keys.insert(
            0,
            KeyEntry {
                key_id: old.key_id(),
                public_key: old.to_base64(),
                valid_from: valid_from.trunc_subsecs(6),
                retired_at: Some(retired_at.trunc_subsecs(6)),
                secret: None,
            },
        );
    }

    /// The key that signs now.
    pub fn signer(&self) -> Result<EvidenceSigner, String> {
        let current = self
            .keys
            .last()
            .filter(|k| k.retired_at.is_none())
            .ok_or("it holds no current key (the last key must not be retired)")?;
        let secret = current
            .secret
            .as_deref()
            .ok_or("its current key has no secret")?;
        let bytes: [u8; 32] = hex::decode(secret)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("the secret of its current key is not 32 bytes of hex")?;
        let signer = EvidenceSigner::from_secret_bytes(&bytes);
        if signer.key_id() != current.key_id {
            return Err("the secret of its current key does not match its public key".into());
        }
        Ok(signer)
    }

    /// The public keys, as published.
    pub fn published(&self) -> PublishedKeys {
        PublishedKeys {
            service: self.service.clone(),
            keys: self
                .keys
                .iter()
                .map(|k| PublishedKey {
                    key_id: k.key_id.clone(),
                    public_key: k.public_key.clone(),
                    valid_from: k.valid_from,
                    retired_at: k.retired_at,
                    status: if k.retired_at.is_none() {
                        KeyStatus::Current
                    } else {
                        KeyStatus::Retired
                    },
                })
                .collect(),
            checkpoint: None,
        }
    }

    /// Checks what a file read from disk claims: format, service, every key's id, exactly one
    /// current key (the last) with a matching secret.
    fn validate(&self, service: &str) -> Result<(), String> {
        if self.format != KEY_FILE_FORMAT {
            return Err(format!(
                "its format is {:?}, not {KEY_FILE_FORMAT:?}",
                self.format
            ));
        }
        if self.service != service {
            return Err(format!(
                "it holds the keys of the {} service, not of {service}",
                self.service
            ));
        }
        TrustedKeys::from_published(&self.published())?;
        let current = self.keys.iter().filter(|k| k.retired_at.is_none()).count();
        if current != 1 {
            return Err(format!("it holds {current} current keys, not one"));
        }
        self.signer().map(|_| ())
    }

    /// Reads and checks `path`, the key file of `service`.
    pub fn load(path: &Path, service: &str) -> Result<KeyFile, KeyFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyFileError::Missing {
                    path: path.to_owned(),
                    service: service.to_owned(),
                });
            }
            Err(source) => {
                return Err(KeyFileError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let invalid = |detail: String| KeyFileError::Invalid {
            path: path.to_owned(),
            detail,
        };
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        file.validate(service).map_err(invalid)?;
        Ok(file)
    }

    /// Writes a new file at `path` (its folder created, mode 0700); never replaces one.
    pub fn save_new(&self, path: &Path) -> Result<(), KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyFileError::Exists {
                    path: path.to_owned(),
                }
            } else {
                io(e)
            }
        })?;
        file.write_all(self.to_json().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Replaces the file at `path` atomically (a new file renamed over it).
    pub fn save_replacing(&self, path: &Path) -> Result<(), KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".new");
        let temporary = PathBuf::from(temporary);
        let _ = std::fs::remove_file(&temporary);
        self.save_new(&temporary)?;
        std::fs::rename(&temporary, path).map_err(io)
    }

    fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// The key file of `service` in `keys_dir`.
pub fn key_file_path(keys_dir: &Path, service: &str) -> PathBuf {
    keys_dir.join(format!("{service}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_file_round_trips_and_signs_with_its_current_key() {
        let dir = tempfile::tempdir().expect("dir");
        let path = key_file_path(dir.path(), "grid");
        let file = KeyFile::generate("grid");
        file.save_new(&path).expect("saved");
        let back = KeyFile::load(&path, "grid").expect("loaded");
        assert_eq!(back, file);
        assert_eq!(back.signer().expect("signer").key_id(), file.keys[0].key_id);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            file.save_new(&path),
            Err(KeyFileError::Exists { .. })
        ));
        assert!(matches!(
            KeyFile::load(&path, "identity"),
            Err(KeyFileError::Invalid { .. })
        ));
    }

    #[test]
    fn a_rotation_keeps_the_old_public_key_and_drops_its_secret() {
        let mut file = KeyFile::generate("grid");
        let first = file.keys[0].key_id.clone();
        let second = file.rotate();
        assert_ne!(first, second);
        assert_eq!(file.keys.len(), 2);
        assert!(file.keys[0].secret.is_none());
        assert!(file.keys[0].retired_at.is_some());
        assert_eq!(file.signer().expect("signer").key_id(), second);
        let published = file.published();
        assert_eq!(published.keys[0].status, KeyStatus::Retired);
        assert_eq!(published.keys[1].status, KeyStatus::Current);
        assert!(
            !serde_json::to_string(&published)
                .unwrap()
                .contains("secret")
        );
        let trusted = TrustedKeys::from_published(&published).expect("trusted");
        assert!(trusted.get(&first).is_some() && trusted.get(&second).is_some());
        file.validate("grid").expect("valid");
    }

    #[test]
    fn a_missing_or_damaged_file_says_what_to_do() {
        let dir = tempfile::tempdir().expect("dir");
        let path = key_file_path(dir.path(), "grid");
        let missing = KeyFile::load(&path, "grid")
            .expect_err("missing")
            .to_string();
        assert!(missing.contains("zhiwang keys generate grid"), "{missing}");
        let mut file = KeyFile::generate("grid");
        file.keys[0].secret = Some(hex::encode([7u8; 32]));
        std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        let err = KeyFile::load(&path, "grid")
            .expect_err("mismatch")
            .to_string();
        assert!(err.contains("does not match"), "{err}");
    }
}
