//! `zhiwang serve <service>`: one service in this process, as a container runs it.

use std::process::ExitCode;

use anyhow::Context;
use zw_platform::Settings;

use crate::modules::Module;

pub async fn run(settings: Settings, module: Module) -> anyhow::Result<ExitCode> {
    zw_platform::telemetry::init(&settings.telemetry, module.name());
    if settings.bus_url().is_none() {
        if module != Module::Gateway {
            anyhow::bail!(
                "`serve {}` needs a NATS server: set ZW__BUS__URL (bus.url). The in-process bus \
                 only connects services inside one `zhiwang up` process.",
                module.name()
            );
        }
        tracing::warn!(
            "no ZW__BUS__URL: the gateway learns of token revocations and key retirements only \
             at its key-set refresh (auth.jwks_refresh_secs), not at once; the services behind \
             it still refuse those tokens"
        );
    }
    let bus = zw_bus::Bus::connect(&settings.bus_config())
        .await
        .context("connecting to the bus")?;
    let listener = zw_platform::http::bind(&settings.http.host, settings.http.port)
        .with_context(|| format!("binding {}:{}", settings.http.host, settings.http.port))?;
    let verifier = zw_auth::Verifier::remote(&settings.auth);
    let app = module
        .build(&settings, bus.clone(), verifier.clone(), listener)
        .await?;
    // Identity checks tokens with its own verifier, which follows the events itself.
    let app = if module == Module::Identity {
        app
    } else {
        crate::modules::follow_revocations(app, &verifier, bus, &settings)
    };
    tracing::info!(service = module.name(), port = app.port(), "serving");
    app.run_until_stopped(zw_platform::http::shutdown_signal())
        .await?;
    tokio::task::spawn_blocking(zw_platform::telemetry::shutdown)
        .await
        .ok();
    Ok(ExitCode::SUCCESS)
}
