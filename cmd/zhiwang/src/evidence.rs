//! `zhiwang evidence export <service>` and `zhiwang evidence verify <file>`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use zw_platform::Settings;

use crate::modules::Module;

#[derive(Subcommand)]
pub enum EvidenceCommand {
    /// Write a service's whole evidence log (records, tree heads, public key) as JSON.
    Export {
        /// The service whose log to export (its database comes from the configuration).
        service: Module,
        /// Output file; standard output when omitted.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check an exported log offline: every record's hash, the chain, the sequence, and the
    /// signed tree head. Exits 1 and names the first bad record when anything is wrong.
    Verify {
        /// The exported JSON file.
        file: PathBuf,
        /// The service's published public key (base64); without it the log is only checked
        /// against the key it carries.
        #[arg(long)]
        public_key: Option<String>,
    },
}

pub async fn run(settings: &Settings, cmd: EvidenceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EvidenceCommand::Export { service, output } => {
            let db = zw_platform::db::connect(&settings.database_url(service.name()), 2).await?;
            let log = zw_evidence::export(&db).await?;
            let json = serde_json::to_string_pretty(&log)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, json)?;
                    eprintln!(
                        "{} records written to {}",
                        log.records.len(),
                        path.display()
                    );
                }
                None => println!("{json}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        EvidenceCommand::Verify { file, public_key } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let log: zw_evidence::ExportedLog = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!("{} is not an exported evidence log: {e}", file.display())
            })?;
            let result = match public_key {
                Some(k) => {
                    let key = zw_evidence::EvidencePublicKey::from_base64(&k)?;
                    zw_evidence::verify_export_with_key(&log, &key)
                }
                None => zw_evidence::verify_export(&log),
            };
            match result {
                Ok(report) => {
                    println!(
                        "OK: {} records, chain intact, {} sealed under root {} (key {})",
                        report.records,
                        report.sealed,
                        report.root_hash.as_deref().unwrap_or("-"),
                        report.key_id.as_deref().unwrap_or("-"),
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("FAILED: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
