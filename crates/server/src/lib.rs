//! The TwisterLab Ops Portal server: HTTP routes and pages per product area, the store, workers.

pub(crate) mod accounts;
pub(crate) mod alerts;
pub(crate) mod api;
pub(crate) mod app;
pub(crate) mod auth;
pub mod cli;
pub(crate) mod clock;
pub(crate) mod cluster;
pub(crate) mod config;
pub mod db;
pub(crate) mod demo;
pub(crate) mod escalation;
pub(crate) mod health;
pub(crate) mod identity;
pub mod incidents;
pub(crate) mod maintenance;
pub(crate) mod managers;
pub(crate) mod markdown;
pub(crate) mod oncall;
pub(crate) mod overview;
pub(crate) mod roster;
#[cfg(test)]
mod route_matrix_tests;
pub(crate) mod runbooks;
pub(crate) mod serve;
pub(crate) mod setup;
pub(crate) mod state;
pub(crate) mod status_page;
pub(crate) mod target_db;
pub(crate) mod telemetry;
#[cfg(test)]
pub mod testing;
pub(crate) mod validation;
pub(crate) mod web;
pub(crate) mod workers;

use std::process::ExitCode;

use cli::{Cli, Command};
use config::{Config, ConfigError, Sources};

pub use app::app;

/// Exit code for configuration errors, so scripts can tell them from runtime failures.
pub const EXIT_CONFIG: u8 = 2;

/// Runs a parsed command line to completion and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    // ring everywhere: a second crypto provider would make rustls panic at the first TLS use.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let sources = match Sources::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return config_failure(&e),
    };
    let command = cli.command.unwrap_or(Command::Serve { demo: false });
    if let Command::CheckConfig = command {
        return check_config(&sources);
    }
    let config = match Config::from_sources(&sources) {
        Ok(c) => c,
        Err(e) => return config_failure(&e),
    };
    telemetry::init(config.log_format, &config.log_filter);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Serve { demo } => serve::serve(config, demo).await,
            Command::Migrate => serve::migrate_only(config).await,
            Command::CreateUser { email, role, name, password_stdin: _ } => {
                serve::create_user(config, &email, &role, &name).await
            }
            Command::CreateToken { email, name, role, expires_days } => {
                serve::create_token(config, &email, &name, role.as_deref(), expires_days).await
            }
            Command::DemoTarget { bind, slow_delay_ms } => serve::demo_target(bind, slow_delay_ms).await,
            Command::CheckConfig => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once, through the log (already on stderr, and JSON where collectors expect it),
            // with the whole chain of causes: the outermost context alone rarely says what to do.
            let cause = format!("{e:#}");
            tracing::error!(error = %cause, "stopped");
            ExitCode::FAILURE
        }
    }
}

fn config_failure(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    eprintln!("hint: `twisterlab-portal check-config` lists every setting with its default");
    ExitCode::from(EXIT_CONFIG)
}

fn check_config(sources: &Sources) -> ExitCode {
    let rows = match config::describe(sources) {
        Ok(rows) => rows,
        Err(e) => return config_failure(&e),
    };
    let width = rows.iter().map(|(f, _, _)| f.env.len()).max().unwrap_or(0);
    for (field, value, origin) in &rows {
        println!("{:width$}  {value}  ({origin}; {})", field.env, field.help);
    }
    match Config::from_sources(sources) {
        Ok(_) => {
            println!("\nconfiguration is valid");
            ExitCode::SUCCESS
        }
        Err(e) => config_failure(&e),
    }
}
