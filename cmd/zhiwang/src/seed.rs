//! The demo district, seeded into each service's own database (idempotent: what exists is
//! left alone). `zhiwang up` seeds every service; `zhiwang seed <service>` one deployment's.

use std::process::ExitCode;

use zw_auth::Role;
use zw_demo::{DEMO_PASSWORD, DemoDistrict};
use zw_platform::Settings;

use crate::modules::Module;

/// Seed what `module` needs of `demo` into its database (from `settings`).
pub async fn seed(settings: &Settings, module: Module, demo: &DemoDistrict) -> anyhow::Result<()> {
    match module {
        Module::Identity => {
            let db = zw_identity::connect(settings).await?;
            let accounts = demo
                .accounts()
                .into_iter()
                .map(|a| {
                    let id = Some(a.subject());
                    Ok(zw_identity::accounts::SeedAccount {
                        username: a.username,
                        password: DEMO_PASSWORD.to_owned(),
                        roles: a
                            .roles
                            .iter()
                            .map(|r| r.parse::<Role>())
                            .collect::<Result<Vec<_>, _>>()?,
                        id,
                        scope: a.scope,
                        name: Some(a.name),
                        id_number: a.id_number,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            zw_identity::accounts::seed_accounts(&db, &accounts).await?;
            db.close().await?;
        }
        Module::Grid => {
            let db = zw_grid::connect(settings).await?;
            zw_grid::seed::seed_demo(&db, demo).await?;
            db.close().await?;
        }
        Module::District => {
            let db = zw_district::connect(settings).await?;
            let register: Vec<zw_district::register::RegisterEntry> = demo
                .register()
                .into_iter()
                .map(|p| zw_district::register::RegisterEntry {
                    id_number: p.id_number,
                    name: p.name,
                    registered_house: p.registered_house,
                })
                .collect();
            zw_district::register::load(&db, &register).await?;
            db.close().await?;
        }
        Module::Gateway
        | Module::Community
        | Module::Street
        | Module::Credit
        | Module::Approval => {}
    }
    Ok(())
}

/// `zhiwang seed <service>`.
pub async fn run(settings: &Settings, module: Module) -> anyhow::Result<ExitCode> {
    let demo = DemoDistrict::generate(&settings.district.code, &settings.district.name);
    seed(settings, module, &demo).await?;
    println!("{}: demo district {} seeded", module.name(), demo.code);
    Ok(ExitCode::SUCCESS)
}
