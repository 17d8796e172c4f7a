//! What every service shares: configuration, problem+json errors, telemetry, metrics, health, databases and the HTTP server.
