//! `zhiwang keys generate|rotate|show <service>`: the key files that sign each service's evidence
//! tree heads (`docs/evidence.md`, "Signing keys").

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use zw_evidence::KeyFile;
use zw_platform::Settings;

use crate::modules::Module;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Write a new key file for a service. Never overwrites one. If the service's database (as
    /// configured) still holds the key an earlier version kept there, the new file adopts it as
    /// a retired key, so the heads it signed stay verifiable.
    Generate {
        /// The service whose tree heads the key signs (one with an evidence log: identity, grid).
        service: Module,
        /// Where to write it [default: <evidence.keys_dir>/<service>.json].
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Retire a service's current key and add a new one, in place (atomically). The service
    /// signs with the new key after its next restart; heads signed before stay verifiable under
    /// the retired key, which the file and the published key list keep.
    Rotate {
        service: Module,
        /// The key file [default: <evidence.keys_dir>/<service>.json].
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Print a service's public keys as the service publishes them (no secret).
    Show {
        service: Module,
        /// The key file [default: <evidence.keys_dir>/<service>.json].
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
}

fn default_path(settings: &Settings, service: Module) -> PathBuf {
    zw_evidence::keys::key_file_path(&settings.evidence_keys_dir(), service.name())
}

pub async fn run(settings: &Settings, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Generate { service, output } => {
            let path = output.unwrap_or_else(|| default_path(settings, service));
            let mut file = KeyFile::generate(service.name());
            match crate::evidence::existing_database(settings, service).await {
                Ok(Some(db)) => {
                    if let Some((legacy, created_at)) = zw_evidence::log::legacy_key(&db).await? {
                        file.adopt_retired(&legacy.public_key(), created_at, chrono::Utc::now());
                        eprintln!(
                            "the {} database holds the key of an earlier version (key {}): adopted as retired",
                            service.name(),
                            legacy.key_id()
                        );
                    }
                }
                Ok(None) => {}
                Err(e) => eprintln!(
                    "note: the {} database could not be read ({e:#}); a key an earlier version kept there is not adopted",
                    service.name()
                ),
            }
            file.save_new(&path)?;
            let current = file.signer().map_err(anyhow::Error::msg)?;
            println!(
                "wrote {} (key {}, public key {})",
                path.display(),
                current.key_id(),
                current.public_key_base64()
            );
            eprintln!(
                "keep a copy apart from the database backups; in Kubernetes put it in the evidence keys Secret"
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Rotate { service, key_file } => {
            let path = key_file.unwrap_or_else(|| default_path(settings, service));
            let mut file = KeyFile::load(&path, service.name())?;
            let retired = file.signer().map_err(anyhow::Error::msg)?.key_id();
            let current = file.rotate();
            file.save_replacing(&path)?;
            println!(
                "{}: key {retired} retired, key {current} signs from the service's next start",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Show { service, key_file } => {
            let path = key_file.unwrap_or_else(|| default_path(settings, service));
            show(&path, service)
        }
    }
}

fn show(path: &Path, service: Module) -> anyhow::Result<ExitCode> {
    let file = KeyFile::load(path, service.name())?;
    println!("{}", serde_json::to_string_pretty(&file.published())?);
    Ok(ExitCode::SUCCESS)
}
