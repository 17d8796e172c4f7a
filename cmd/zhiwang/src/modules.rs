//! The services as modules: each is built the same way whether it runs alone (`serve`) or with
//! the others (`up`).

use std::net::TcpListener;
use std::process::ExitCode;

use clap::ValueEnum;
use zw_platform::Settings;
use zw_platform::http::Application;

/// Let `verifier` apply identity's revocation events from `bus` for as long as `app` runs: every
/// process that verifies tokens with a remote verifier (the gateway, every service; identity
/// follows with its own) refuses a retired key's, a revoked token's or a signed-out user's
/// tokens as soon as the event arrives, not at its next key-set refresh.
pub fn follow_revocations(
    app: Application,
    verifier: &zw_auth::Verifier,
    bus: zw_bus::Bus,
    settings: &Settings,
) -> Application {
    let follower = verifier.follow(bus, &settings.district.code, app.stop_token());
    app.with_task(follower)
}

/// A Zhiwang service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Module {
    Gateway,
    Identity,
    Grid,
    Community,
    Street,
    District,
    Credit,
    Approval,
}

impl Module {
    /// Every service but the gateway, in start order (identity first: the others verify its
    /// tokens).
    pub const BACKENDS: [Module; 7] = [
        Module::Identity,
        Module::District,
        Module::Grid,
        Module::Community,
        Module::Street,
        Module::Credit,
        Module::Approval,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Module::Gateway => zw_gateway::NAME,
            Module::Identity => zw_identity::NAME,
            Module::Grid => zw_grid::NAME,
            Module::Community => zw_community::NAME,
            Module::Street => zw_street::NAME,
            Module::District => zw_district::NAME,
            Module::Credit => zw_credit::NAME,
            Module::Approval => zw_approval::NAME,
        }
    }

    /// Build the service on `listener`.
    pub async fn build(
        self,
        settings: &Settings,
        bus: zw_bus::Bus,
        verifier: zw_auth::Verifier,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        match self {
            Module::Gateway => zw_gateway::build(settings, verifier, listener).await,
            Module::Identity => zw_identity::build(settings, bus, listener).await,
            Module::Grid => zw_grid::build(settings, bus, verifier, listener).await,
            Module::Community => zw_community::build(settings, bus, verifier, listener).await,
            Module::Street => zw_street::build(settings, bus, verifier, listener).await,
            Module::District => zw_district::build(settings, bus, verifier, listener).await,
            Module::Credit => zw_credit::build(settings, bus, verifier, listener).await,
            Module::Approval => zw_approval::build(settings, bus, verifier, listener).await,
        }
    }

    /// Bring the service's database schema up to date.
    pub async fn migrate(self, settings: &Settings) -> anyhow::Result<()> {
        use sea_orm_migration::MigratorTrait;
        let url = settings.database_url(self.name());
        let db = zw_platform::db::connect(&url, 2).await?;
        match self {
            Module::Gateway => {}
            Module::Identity => zw_identity::Migrator::up(&db, None).await?,
            Module::Grid => zw_grid::Migrator::up(&db, None).await?,
            Module::Community => zw_community::Migrator::up(&db, None).await?,
            Module::Street => zw_street::Migrator::up(&db, None).await?,
            Module::District => zw_district::Migrator::up(&db, None).await?,
            Module::Credit => zw_credit::Migrator::up(&db, None).await?,
            Module::Approval => zw_approval::Migrator::up(&db, None).await?,
        }
        db.close().await?;
        Ok(())
    }
}

/// `zhiwang migrate [service]`.
pub async fn migrate(settings: &Settings, service: Option<Module>) -> anyhow::Result<ExitCode> {
    let modules: Vec<Module> = match service {
        Some(m) => vec![m],
        None => Module::BACKENDS.to_vec(),
    };
    for m in modules {
        if m == Module::Gateway {
            println!("gateway: no database");
            continue;
        }
        m.migrate(settings)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e:#}", m.name()))?;
        println!("{}: schema up to date", m.name());
    }
    Ok(ExitCode::SUCCESS)
}
