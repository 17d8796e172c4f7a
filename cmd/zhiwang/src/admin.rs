//! `zhiwang create-admin <username>`: the first administrator of a fresh deployment (everything
//! else — officers, grid workers, department accounts — that administrator creates over the API).

use std::process::ExitCode;

use anyhow::Context;
use zw_auth::Role;
use zw_platform::Settings;

/// The environment variable the password is read from (not an argument: arguments show up in
/// process lists and shell history).
pub const PASSWORD_ENV: &str = "ZW_ADMIN_PASSWORD";

pub async fn run(settings: &Settings, username: &str) -> anyhow::Result<ExitCode> {
    let password = std::env::var(PASSWORD_ENV)
        .with_context(|| format!("set the new administrator's password in {PASSWORD_ENV}"))?;
    let db = zw_identity::connect(settings).await?;
    let account = zw_identity::accounts::SeedAccount {
        username: username.to_owned(),
        password,
        roles: vec![Role::Admin],
        scope: settings.district.code.clone(),
        name: Some("Administrator".to_owned()),
        id_number: None,
        id: None,
    };
    let existed = zw_identity::accounts::find_user(&db, &username.to_lowercase())
        .await?
        .is_some();
    zw_identity::accounts::seed_accounts(&db, &[account]).await?;
    db.close().await?;
    if existed {
        println!("{username} already exists; nothing changed");
    } else {
        println!(
            "administrator {username} created for district {}",
            settings.district.code
        );
    }
    Ok(ExitCode::SUCCESS)
}
