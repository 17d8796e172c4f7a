//! Configuration: the defaults embedded from `config/default.toml`, then an optional file, then
//! `ZW__SECTION__KEY` environment variables. One [`Settings`] type for every service (Mimir-style:
//! one configuration for all modules); each service reads the sections it needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;
use zw_domain::JurisdictionCode;

/// The embedded defaults, documented key by key.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub district: DistrictSettings,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub bus: BusSettings,
    pub redis: RedisSettings,
    pub telemetry: TelemetrySettings,
    pub auth: AuthSettings,
    pub identity: IdentitySettings,
    pub gateway: GatewaySettings,
    pub grid: GridSettings,
    pub evidence: EvidenceSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DistrictSettings {
    pub code: JurisdictionCode,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub max_upload_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// A secret: it may carry a password.
    pub url: SecretString,
    pub data_dir: PathBuf,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BusSettings {
    pub url: String,
    pub prefix: String,
    pub stream_replicas: usize,
    pub request_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    pub log_level: String,
    pub log_format: LogFormat,
    pub otlp_endpoint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
    /// Where verifiers fetch the revocations in force; empty: next to `jwks_url`
    /// ([`AuthSettings::revocations_url`]).
    #[serde(default)]
    pub revocations_url: String,
    pub jwks_refresh_secs: u64,
    pub leeway_secs: u64,
    /// The longest lifetime (`exp - iat`, `exp - nbf`) a token may claim; longer ones are
    /// refused, and revocations are kept this long.
    pub max_token_lifetime_secs: u64,
}

impl AuthSettings {
    /// The URL of identity's revocation list: `revocations_url`, or by default the JWKS URL with
    /// its `.well-known/jwks.json` replaced by `revocations`
    /// (`…/api/v1/identity/.well-known/jwks.json` → `…/api/v1/identity/revocations`).
    pub fn revocations_url(&self) -> String {
        if !self.revocations_url.is_empty() {
            return self.revocations_url.clone();
        }
        match self.jwks_url.strip_suffix(".well-known/jwks.json") {
            Some(base) => format!("{base}revocations"),
            None => format!("{}/revocations", self.jwks_url.trim_end_matches('/')),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdentitySettings {
    pub access_token_ttl_secs: u64,
    pub algorithm: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GatewaySettings {
    pub rate_limit_per_minute: u32,
    #[serde(default)]
    pub upstreams: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GridSettings {
    /// Public base URL of the platform (the gateway) as printed in house QR codes.
    pub public_url: String,
    /// Largest photo or scan accepted, in bytes.
    pub media_max_bytes: usize,
    /// Hours a level has to resolve an incident before it escalates to the next level.
    pub incident_deadline_hours: u32,
    /// How often the escalation sweep looks for overdue incidents, in seconds.
    pub escalation_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EvidenceSettings {
    /// Folder of the signing key files (`<service>.json`); empty: `<data_dir>/evidence-keys`
    /// ([`Settings::evidence_keys_dir`]).
    pub keys_dir: PathBuf,
    /// Create a missing key file instead of refusing to start.
    pub create_missing_key: bool,
    /// Seconds between chain checks and seals of new records.
    pub seal_interval_secs: u64,
    /// Seconds between full verifications of the stored log.
    pub full_verify_every_secs: u64,
    /// The name the logs' checkpoints are signed under, without the service: the origin of
    /// service `s` is `<checkpoint_origin>/<s>`. Empty: `grid.public_url` without its scheme.
    #[serde(default)]
    pub checkpoint_origin: String,
    /// The witnesses whose cosignatures of the checkpoints are accepted: their note verifier
    /// keys (`<name>+<key id>+<base64 key>`), separated by commas or white space.
    #[serde(default)]
    pub witnesses: String,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Defaults, then `file` (if given), then the `ZW__…` environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with(file, std::env::vars())
    }

    /// As [`Settings::load`] with an explicit environment (for tests).
    pub fn load_with(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            builder = builder.add_source(config::File::from(path));
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("ZW__"))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("ZW")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.district.code.level() != zw_domain::Level::District {
            return Err(ConfigError::Invalid(format!(
                "district.code must be a 6-digit district code, not {}",
                self.district.code
            )));
        }
        if self.http.workers == 0 {
            return Err(ConfigError::Invalid(
                "http.workers must be at least 1".into(),
            ));
        }
        if self.identity.access_token_ttl_secs > self.auth.max_token_lifetime_secs {
            return Err(ConfigError::Invalid(format!(
                "identity.access_token_ttl_secs ({}) is longer than auth.max_token_lifetime_secs \
                 ({}): every verifier would refuse the tokens identity issues",
                self.identity.access_token_ttl_secs, self.auth.max_token_lifetime_secs
            )));
        }
        if !matches!(self.identity.algorithm.as_str(), "EdDSA" | "RS256") {
            return Err(ConfigError::Invalid(format!(
                "identity.algorithm must be EdDSA or RS256, not {:?}",
                self.identity.algorithm
            )));
        }
        Ok(())
    }

    /// The folder of the evidence signing key files: `evidence.keys_dir`, or by default
    /// `evidence-keys` in the database's data folder.
    pub fn evidence_keys_dir(&self) -> PathBuf {
        if self.evidence.keys_dir.as_os_str().is_empty() {
            self.database.data_dir.join("evidence-keys")
        } else {
            self.evidence.keys_dir.clone()
        }
    }

    /// The database URL for `service`: the configured one, or a SQLite file in `data_dir`.
    pub fn database_url(&self, service: &str) -> String {
        use secrecy::ExposeSecret;
        let url = self.database.url.expose_secret();
        if url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.database
                    .data_dir
                    .join(format!("{service}.db"))
                    .display()
            )
        } else {
            url.to_owned()
        }
    }

    /// The bus URL, or `None` for the in-process bus.
    pub fn bus_url(&self) -> Option<&str> {
        (!self.bus.url.is_empty()).then_some(self.bus.url.as_str())
    }

    /// The bus configuration these settings describe.
    pub fn bus_config(&self) -> zw_bus::BusConfig {
        zw_bus::BusConfig {
            url: self.bus_url().map(str::to_owned),
            prefix: self.bus.prefix.clone(),
            stream_replicas: self.bus.stream_replicas.max(1),
            request_timeout: std::time::Duration::from_millis(self.bus.request_timeout_ms),
        }
    }

    pub fn redis_url(&self) -> Option<&str> {
        (!self.redis.url.is_empty()).then_some(self.redis.url.as_str())
    }

    pub fn otlp_endpoint(&self) -> Option<&str> {
        (!self.telemetry.otlp_endpoint.is_empty()).then_some(self.telemetry.otlp_endpoint.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_environment_overrides_them() {
        let s = Settings::load_with(
            None,
            [
                ("ZW__BUS__URL".to_owned(), "nats://x:4222".to_owned()),
                ("ZW__HTTP__PORT".to_owned(), "9000".to_owned()),
                (
                    "ZW__GATEWAY__UPSTREAMS__GRID".to_owned(),
                    "http://grid:8080".to_owned(),
                ),
            ],
        )
        .expect("loads");
        assert_eq!(s.bus_url(), Some("nats://x:4222"));
        assert_eq!(s.http.port, 9000);
        assert_eq!(
            s.gateway.upstreams.get("grid").map(String::as_str),
            Some("http://grid:8080")
        );
        assert!(s.database_url("grid").ends_with("grid.db?mode=rwc"));
    }

    #[test]
    fn the_revocation_list_lives_next_to_the_jwks_unless_configured() {
        let s = Settings::load_with(
            None,
            [(
                "ZW__AUTH__JWKS_URL".to_owned(),
                "http://identity:8080/api/v1/identity/.well-known/jwks.json".to_owned(),
            )],
        )
        .expect("loads");
        assert_eq!(
            s.auth.revocations_url(),
            "http://identity:8080/api/v1/identity/revocations"
        );
        let s = Settings::load_with(
            None,
            [(
                "ZW__AUTH__REVOCATIONS_URL".to_owned(),
                "http://elsewhere/revoked".to_owned(),
            )],
        )
        .expect("loads");
        assert_eq!(s.auth.revocations_url(), "http://elsewhere/revoked");
    }

    #[test]
    fn tokens_longer_than_the_verifiers_accept_are_refused_at_start() {
        let err = Settings::load_with(
            None,
            [(
                "ZW__IDENTITY__ACCESS_TOKEN_TTL_SECS".to_owned(),
                "3600".to_owned(),
            )],
        )
        .expect_err("refused");
        assert!(err.to_string().contains("max_token_lifetime_secs"), "{err}");
    }

    #[test]
    fn a_bad_district_code_is_refused_with_a_clear_message() {
        let err = Settings::load_with(None, [("ZW__DISTRICT__CODE".to_owned(), "4403".to_owned())])
            .expect_err("refused");
        assert!(err.to_string().contains("jurisdiction code"), "{err}");
    }
}
