//! `zhiwang`: one binary for every way Zhiwang runs (see `zhiwang --help`).
//!
//! - `up`: every service in one process on SQLite files and the in-process bus, with the demo
//!   district seeded ([`up`]);
//! - `serve <service>`: one service, as each Kubernetes Deployment runs it ([`serve`]);
//! - `migrate`: bring a service's database schema up to date; `seed`: the demo district;
//! - `evidence export|verify|monitor`: take a service's evidence log out, check one offline,
//!   watch a service's published heads; `keys generate|rotate|show`: the key files that sign
//!   them.
//!
//! [`modules`] is the one list of services and how each is built and migrated: `up` and
//! `serve` use the same `build` of each service.

mod admin;
mod evidence;
mod import;
mod keys;
mod modules;
mod seed;
mod serve;
mod up;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::modules::Module;

#[derive(Parser)]
#[command(
    name = "zhiwang",
    version,
    about = "Zhiwang (织网): grid-based social governance for a city district"
)]
struct Cli {
    /// Configuration file (TOML). Environment variables ZW__SECTION__KEY override it.
    #[arg(long, global = true, env = "ZW_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service in one process on SQLite files, with a seeded demo district.
    Up(up::UpArgs),
    /// Run one service (as a container does). Needs a NATS URL (ZW__BUS__URL): the services
    /// talk over it, and every verifier (the gateway's too) applies identity's token
    /// revocations from it at once. Each service but the gateway needs its database URL
    /// (ZW__DATABASE__URL).
    Serve {
        /// The service to run.
        service: Module,
    },
    /// Create or update the database schema of a service (or of all, in the data folder).
    Migrate {
        /// The service whose database to migrate; omit for every service's SQLite file in
        /// `database.data_dir`.
        service: Option<Module>,
    },
    /// Seed the demo district into a service's database (demo accounts, grids and houses, the
    /// historical register); what exists already is left alone.
    Seed {
        /// The service whose database to seed.
        service: Module,
    },
    /// Create the first administrator of a deployment in the identity database (the password
    /// comes from ZW_ADMIN_PASSWORD). An existing user is left unchanged.
    CreateAdmin {
        /// The administrator's login name.
        username: String,
    },
    /// Load streets/communities/grids, houses or residents from a CSV file through the
    /// platform's import API, in chunks, with a progress bar. Safe to run again after an
    /// interruption: rows already loaded are left as they are.
    Import(import::ImportArgs),
    /// Export, verify or monitor an evidence log.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// Generate, rotate or show the key file that signs a service's evidence tree heads (kept
    /// outside its database, in evidence.keys_dir).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match zw_platform::Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("zhiwang: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zhiwang: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => up::run(settings, args).await,
            Command::Serve { service } => serve::run(settings, service).await,
            Command::Migrate { service } => modules::migrate(&settings, service).await,
            Command::CreateAdmin { username } => admin::run(&settings, &username).await,
            Command::Seed { service } => seed::run(&settings, service).await,
            Command::Evidence(cmd) => evidence::run(&settings, cmd).await,
            Command::Keys(cmd) => keys::run(&settings, cmd).await,
            Command::Import(args) => import::run(args).await,
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zhiwang: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
