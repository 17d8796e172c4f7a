//! `zhiwang import`: load a district's existing data from CSV files through the public import
//! path (the gateway's `/api/v1/grid/jurisdictions/import` and `/api/v1/grid/imports/…`), in
//! chunks, with a progress bar. An interrupted import is resumed by running the same command
//! again: rows already loaded are left as they are.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use zw_grid::imports::client::{Kind, Target, upload};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What the file holds.
    pub kind: Kind,
    /// The CSV file, with a header line.
    pub file: PathBuf,
    /// The platform's address (the gateway).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An access token of a district officer (or a street or community officer, for data of
    /// their own jurisdiction). Read from ZW_TOKEN when not given.
    #[arg(long, env = "ZW_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Rows per request (at most 20,000).
    #[arg(long, default_value_t = 20_000)]
    pub chunk: usize,
    /// Do not draw the progress bar (e.g. in logs).
    #[arg(long)]
    pub quiet: bool,
}

pub async fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let started = Instant::now();
    let target = Target {
        url: args.url.clone(),
        token: args.token.clone(),
        chunk: args.chunk,
        progress: !args.quiet,
    };
    let totals = upload(&target, args.kind, &text).await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{}: {} rows in {secs:.1} s ({:.0} rows/s): {} new, {} already there, {} case(s) raised by the rules",
        args.file.display(),
        totals.rows,
        totals.rows as f64 / secs.max(f64::EPSILON),
        totals.created,
        totals.unchanged,
        totals.cases_raised
    );
    Ok(ExitCode::SUCCESS)
}
