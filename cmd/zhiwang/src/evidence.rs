//! `zhiwang evidence export <service>`, `zhiwang evidence verify <file>` and
//! `zhiwang evidence monitor <url>` (`docs/evidence.md`).
//!
//! Exit codes of `verify` and `monitor`: 0 verified; 1 the log is wrong (tampered, rewritten,
//! truncated, empty); 2 `verify` could not say whose log it is (no pinned key); 3 `monitor --once`
//! could not reach the service.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use zw_evidence::{
    ConsistencyProof, EvidenceError, EvidencePublicKey, ExportedLog, KnownHead, PublishedHead,
    PublishedKey, PublishedKeys, SignedTreeHead, Trust, TrustedKeys,
};
use zw_platform::Settings;

use crate::modules::Module;

#[derive(Subcommand)]
pub enum EvidenceCommand {
    /// Write a service's whole evidence log (records, every signed tree head, the keys that
    /// signed them) as JSON.
    Export {
        /// The service whose log to export (its database comes from the configuration).
        service: Module,
        /// Output file; standard output when omitted.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check an exported log offline: every record's hash, the chain, the sequence, every signed
    /// tree head, against keys you pinned. Prints OK (exit 0), FAILED naming the first bad
    /// record or head (exit 1), or UNVERIFIED when no pinned key says whose log it is (exit 2).
    Verify(VerifyArgs),
    /// Watch a service's published tree heads: each new head must be signed by a pinned key and
    /// extend every head seen before (RFC 6962 consistency proof). Keeps what it saw in a state
    /// file; prints REWRITE and exits 1 on a rewrite.
    Monitor(MonitorArgs),
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The exported JSON file.
    file: PathBuf,
    /// A public key (base64) of the service, as published at
    /// /api/v1/<service>/evidence/keys; repeat for each key of a rotation history.
    #[arg(long = "public-key", value_name = "BASE64")]
    public_keys: Vec<String>,
    /// A saved copy of the service's published keys (the JSON of /api/v1/<service>/evidence/keys).
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// A monitor's state file: its pinned keys are trusted, and the log must extend every head
    /// it saw.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// A head seen before, as <size>:<root hex>: the log must extend it (a dropped tail or a
    /// rewrite fails). Repeatable.
    #[arg(long = "known-head", value_name = "SIZE:ROOT")]
    known_heads: Vec<KnownHead>,
    /// Accept the keys the file itself carries. That proves only that the log is
    /// self-consistent: whoever rewrites a log can re-sign it with a key of his own.
    #[arg(long)]
    trust_embedded_key: bool,
}

#[derive(Args)]
pub struct MonitorArgs {
    /// The service's evidence base URL, e.g.
    /// https://zhiwang.example.gov.cn/api/v1/grid/evidence
    url: String,
    /// Where the monitor keeps the keys it pinned and every head it saw (created on first run).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// The service's public key (base64) to pin on first run, from a channel you trust;
    /// without it the first run pins the keys the service publishes (trust on first use).
    #[arg(long = "public-key", value_name = "BASE64")]
    public_keys: Vec<String>,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 60)]
    interval: u64,
    /// One round, then exit (for cron).
    #[arg(long)]
    once: bool,
}

/// The service's database if it exists (a SQLite file not yet created is `None`, and is not
/// created).
pub async fn existing_database(
    settings: &Settings,
    service: Module,
) -> anyhow::Result<Option<sea_orm::DatabaseConnection>> {
    let url = settings.database_url(service.name());
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        && !Path::new(path).exists()
    {
        return Ok(None);
    }
    Ok(Some(zw_platform::db::connect(&url, 2).await?))
}

pub async fn run(settings: &Settings, cmd: EvidenceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EvidenceCommand::Export { service, output } => export(settings, service, output).await,
        EvidenceCommand::Verify(args) => verify(&args),
        EvidenceCommand::Monitor(args) => monitor(&args).await,
    }
}

async fn export(
    settings: &Settings,
    service: Module,
    output: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let name = service.name();
    let Some(db) = existing_database(settings, service).await? else {
        anyhow::bail!("the {name} service has no database here yet: nothing to export");
    };
    let log = match zw_evidence::export(&db, name).await {
        Ok(log) => log,
        Err(EvidenceError::NotMigrated) => {
            anyhow::bail!("the {name} service keeps no evidence log in its database")
        }
        Err(e) => return Err(e.into()),
    };
    let json = serde_json::to_string_pretty(&log)?;
    match output {
        Some(path) => {
            std::fs::write(&path, json)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "{} records and {} signed heads written to {}",
                log.records.len(),
                log.tree_heads.len(),
                path.display()
            );
        }
        None => println!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not {what}", path.display()))
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let log = ExportedLog::from_json(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an exported evidence log: {e}",
            args.file.display()
        )
    })?;

    let mut pinned = TrustedKeys::default();
    for text in &args.public_keys {
        pinned.insert(
            EvidencePublicKey::from_base64(text).map_err(|_| {
                anyhow::anyhow!("--public-key {text:?} is not a base64 Ed25519 key")
            })?,
        );
    }
    let mut pin_all = |keys: &PublishedKeys, from: &Path| -> anyhow::Result<()> {
        let trusted = TrustedKeys::from_published(keys)
            .map_err(|e| anyhow::anyhow!("{}: {e}", from.display()))?;
        for id in trusted.key_ids() {
            if let Some(key) = trusted.get(id) {
                pinned.insert(*key);
            }
        }
        Ok(())
    };
    if let Some(path) = &args.keys {
        pin_all(&read_json(path, "a published key list")?, path)?;
    }
    let mut known = args.known_heads.clone();
    if let Some(path) = &args.state {
        let state: MonitorState = read_json(path, "a monitor state file")?;
        pin_all(&state.published_keys(), path)?;
        known.extend(state.heads.iter().map(KnownHead::from));
    }

    let trust = if !pinned.is_empty() {
        Trust::Pinned(&pinned)
    } else {
        Trust::Embedded
    };
    match zw_evidence::verify_export(&log, trust, &known) {
        Ok(report) => {
            let mut line = format!(
                "{} records, chain intact, {} checked, {} sealed under root {} (key {})",
                report.records,
                plural(report.tree_heads_checked, "signed head"),
                report.sealed,
                report.root_hash.as_deref().unwrap_or("-"),
                report.key_id.as_deref().unwrap_or("-"),
            );
            if report.known_heads_checked > 0 {
                line.push_str(&format!(
                    "; extends {} seen before",
                    plural(report.known_heads_checked, "head")
                ));
            }
            if report.records > report.sealed {
                line.push_str(&format!(
                    "; records {}..{} are not sealed yet",
                    report.sealed + 1,
                    report.records
                ));
            }
            if pinned.is_empty() && !args.trust_embedded_key {
                println!(
                    "UNVERIFIED: {line}, but only under the keys the file itself carries, which anyone \
                     who rewrites a log can replace; pass the service's published keys \
                     (--public-key, --keys or a monitor's --state), or --trust-embedded-key to accept them"
                );
                return Ok(ExitCode::from(2));
            }
            if pinned.is_empty() {
                line.push_str(" (under the keys the file carries, as asked)");
            }
            println!("OK: {line}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The monitor's state file format.
pub const MONITOR_FORMAT: &str = "zhiwang-evidence-monitor-v1";

/// What a monitor keeps: the keys it pinned and every head it verified.
#[derive(Debug, Serialize, Deserialize)]
struct MonitorState {
    format: String,
    url: String,
    keys: Vec<PublishedKey>,
    /// Ascending by size.
    heads: Vec<SignedTreeHead>,
}

impl MonitorState {
    fn published_keys(&self) -> PublishedKeys {
        PublishedKeys {
            service: String::new(),
            keys: self.keys.clone(),
            checkpoint: None,
        }
    }

    fn trusted(&self) -> anyhow::Result<TrustedKeys> {
        TrustedKeys::from_published(&self.published_keys()).map_err(anyhow::Error::msg)
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".new");
        let temporary = PathBuf::from(temporary);
        std::fs::write(&temporary, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, path)
            .with_context(|| format!("cannot replace {}", path.display()))
    }
}

/// What one round found.
enum Round {
    /// The head verified; what to say.
    Ok(String),
    /// The log was rewritten, or a head forged: what.
    Rewrite(String),
}

async fn monitor(args: &MonitorArgs) -> anyhow::Result<ExitCode> {
    let url = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut state: Option<MonitorState> = if args.state.exists() {
        let state: MonitorState = read_json(&args.state, "a monitor state file")?;
        if state.format != MONITOR_FORMAT {
            anyhow::bail!(
                "{} is not a monitor state file of format {MONITOR_FORMAT}",
                args.state.display()
            );
        }
        if state.url != url {
            anyhow::bail!(
                "{} watches {}, not {url}: one state file per service",
                args.state.display(),
                state.url
            );
        }
        Some(state)
    } else {
        None
    };
    loop {
        match round(&client, &url, args, &mut state).await {
            Ok(Round::Ok(line)) => {
                println!("OK: {line}");
                if let Some(s) = &state {
                    s.save(&args.state)?;
                }
                if args.once {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Ok(Round::Rewrite(what)) => {
                println!("REWRITE: {url}: {what}");
                return Ok(ExitCode::from(1));
            }
            Err(e) => {
                eprintln!("ERROR: {url}: {e:#}");
                if args.once {
                    return Ok(ExitCode::from(3));
                }
                eprintln!("retrying in {} s", args.interval);
            }
        }
        tokio::time::sleep(Duration::from_secs(args.interval)).await;
    }
}

async fn get<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<T> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("GET {url} answered {status}: {body}");
    }
    response
        .json()
        .await
        .with_context(|| format!("GET {url} did not answer the expected JSON"))
}

async fn round(
    client: &reqwest::Client,
    url: &str,
    args: &MonitorArgs,
    state: &mut Option<MonitorState>,
) -> anyhow::Result<Round> {
    let published: PublishedHead = get(client, &format!("{url}/tree-head")).await?;
    let head = published.tree_head;

    let Some(known) = state.as_mut() else {
        // First run: pin the keys, keep the head.
        let keys: PublishedKeys = get(client, &format!("{url}/keys")).await?;
        let mut pinned_keys = keys.keys.clone();
        if !args.public_keys.is_empty() {
            let given: Vec<String> = args
                .public_keys
                .iter()
                .map(|k| {
                    EvidencePublicKey::from_base64(k)
                        .map(|k| k.key_id())
                        .map_err(|_| {
                            anyhow::anyhow!("--public-key {k:?} is not a base64 Ed25519 key")
                        })
                })
                .collect::<anyhow::Result<_>>()?;
            pinned_keys.retain(|k| given.contains(&k.key_id));
            if pinned_keys.len() != given.len() {
                return Ok(Round::Rewrite(
                    "the service does not publish every key given with --public-key".into(),
                ));
            }
        } else {
            eprintln!(
                "pinned the {} keys {url}/keys publishes (trust on first use): compare their ids ({}) with the ones the service's operators announce",
                pinned_keys.len(),
                pinned_keys
                    .iter()
                    .map(|k| k.key_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let fresh = MonitorState {
            format: MONITOR_FORMAT.to_owned(),
            url: url.to_owned(),
            keys: pinned_keys,
            heads: Vec::new(),
        };
        let trusted = fresh.trusted()?;
        if let Some(what) = signature_problem(&head, &trusted) {
            return Ok(Round::Rewrite(what));
        }
        let line = format!(
            "first head: size {} root {} (key {})",
            head.tree_size, head.root_hash, head.key_id
        );
        *state = Some(MonitorState {
            heads: vec![head],
            ..fresh
        });
        return Ok(Round::Ok(line));
    };

    let mut trusted = known.trusted()?;
    if trusted.get(&head.key_id).is_none() {
        // A rotation: the new key must be published next to every key pinned so far. The
        // consistency proof below still shows that it signs an extension of what was seen.
        let keys: PublishedKeys = get(client, &format!("{url}/keys")).await?;
        let still = known.keys.iter().all(|pinned| {
            keys.keys
                .iter()
                .any(|k| k.key_id == pinned.key_id && k.public_key == pinned.public_key)
        });
        let Some(new_key) = keys.keys.iter().find(|k| k.key_id == head.key_id).cloned() else {
            return Ok(Round::Rewrite(format!(
                "the head of size {} is signed by key {}, which the service does not publish",
                head.tree_size, head.key_id
            )));
        };
        if !still {
            return Ok(Round::Rewrite(
                "the service no longer publishes every key pinned before".into(),
            ));
        }
        eprintln!(
            "new key {} published next to the pinned ones: pinned",
            new_key.key_id
        );
        known.keys.push(new_key);
        trusted = known.trusted()?;
    }
    if let Some(what) = signature_problem(&head, &trusted) {
        return Ok(Round::Rewrite(what));
    }
    let Some(last) = known.heads.last().cloned() else {
        known.heads.push(head);
        return Ok(Round::Ok("first head kept".into()));
    };
    if let Some(seen) = known.heads.iter().find(|h| h.tree_size == head.tree_size) {
        if seen.root_hash != head.root_hash {
            return Ok(Round::Rewrite(format!(
                "the head of size {} now has root {}, but root {} was seen before",
                head.tree_size, head.root_hash, seen.root_hash
            )));
        }
        if head.tree_size < last.tree_size {
            return Ok(Round::Rewrite(format!(
                "the service went back to size {} after size {} was seen",
                head.tree_size, last.tree_size
            )));
        }
        return Ok(Round::Ok(format!(
            "size {} root {} unchanged",
            head.tree_size, head.root_hash
        )));
    }
    if head.tree_size < last.tree_size {
        return Ok(Round::Rewrite(format!(
            "the service publishes size {} after size {} was seen: its tail was dropped",
            head.tree_size, last.tree_size
        )));
    }
    let proof: ConsistencyProof = get(
        client,
        &format!(
            "{url}/consistency?old={}&new={}",
            last.tree_size, head.tree_size
        ),
    )
    .await?;
    if proof.old.root_hash != last.root_hash || proof.new.root_hash != head.root_hash {
        return Ok(Round::Rewrite(format!(
            "the consistency proof is between other heads than the ones seen (size {} root {}, size {} root {})",
            last.tree_size, last.root_hash, head.tree_size, head.root_hash
        )));
    }
    let (Some(old_key), Some(new_key)) = (trusted.get(&last.key_id), trusted.get(&head.key_id))
    else {
        return Ok(Round::Rewrite(
            "a head is signed by a key not pinned".into(),
        ));
    };
    if let Err(e) = zw_evidence::verify_consistency_proof_across(&proof, old_key, new_key) {
        return Ok(Round::Rewrite(format!(
            "size {} does not extend size {} seen before: {e}",
            head.tree_size, last.tree_size
        )));
    }
    let line = format!(
        "size {} root {} (key {}) extends size {}",
        head.tree_size, head.root_hash, head.key_id, last.tree_size
    );
    known.heads.push(head);
    Ok(Round::Ok(line))
}

/// Why `head` is not signed by a pinned key, if it is not.
fn signature_problem(head: &SignedTreeHead, trusted: &TrustedKeys) -> Option<String> {
    let Some(key) = trusted.get(&head.key_id) else {
        return Some(format!(
            "the head of size {} is signed by key {}, which is not pinned",
            head.tree_size, head.key_id
        ));
    };
    zw_evidence::verify_tree_head(head, key)
        .err()
        .map(|e| format!("the head of size {}: {e}", head.tree_size))
}
