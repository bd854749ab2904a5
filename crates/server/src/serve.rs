//! Process lifecycle: start-up (database, migrations, listener), serving, graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::db;
use crate::state::AppState;

/// `twisterlab-portal serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let database = db::connect(&config).await?;
    tracing::info!(db.location = %database.location, "connected to PostgreSQL");
    let result = serve_with(&config, &database).await;
    database.shutdown().await;
    result
}

async fn serve_with(config: &Config, database: &db::Database) -> anyhow::Result<()> {
    let applied = db::migrate(&database.pool).await?;
    tracing::info!(migrations.applied = applied, "database schema is current");
    crate::accounts::bootstrap_admin(
        &database.pool,
        config.admin_email.as_deref(),
        config.admin_password.as_ref(),
    )
    .await?;

    let listener = TcpListener::bind(config.bind).await.with_context(|| {
        format!("cannot listen on {}: set TWISTERLAB_BIND to a free address:port", config.bind)
    })?;
    let state = AppState::new(database.pool.clone(), config.clone(), database.location.clone());
    let lifecycle = state.lifecycle.clone();
    let app = crate::app(state);

    let local = listener.local_addr()?;
    tracing::info!(http.bind = %local, status_host = %config.status_host, "TwisterLab Ops Portal is listening on http://{local}");

    let (stop_tx, stop_rx) = watch::channel(false);
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(wait_for(stop_rx));
    let mut server = tokio::spawn(async move { server.await });
    let workers = crate::workers::spawn_all(database.pool.clone(), config.clone(), stop_tx.subscribe());

    tokio::select! {
        result = &mut server => return result.context("the HTTP server stopped")?.context("the HTTP server failed"),
        signal = shutdown_signal() => tracing::info!(signal, grace_s = config.shutdown_grace.as_secs(), "shutting down: finishing in-flight requests"),
    }
    lifecycle.begin_shutdown();
    let _ = stop_tx.send(true);
    match tokio::time::timeout(config.shutdown_grace, &mut server).await {
        Ok(result) => result.context("the HTTP server stopped")?.context("the HTTP server failed")?,
        Err(_) => {
            tracing::warn!(
                grace_s = config.shutdown_grace.as_secs(),
                "in-flight requests did not finish in time; closing them"
            );
            server.abort();
        }
    }
    workers.stop().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// `twisterlab-portal migrate`.
pub async fn migrate_only(config: Config) -> anyhow::Result<()> {
    let database = db::connect(&config).await?;
    let result = db::migrate(&database.pool).await;
    database.shutdown().await;
    let applied = result?;
    println!("applied {applied} migration(s); the schema is current ({} known)", db::MIGRATOR.iter().count());
    Ok(())
}

/// `twisterlab-portal create-user`: reads the password from standard input.
pub async fn create_user(config: Config, email: &str, role: &str, name: &str) -> anyhow::Result<()> {
    use crate::accounts::{self, CreateUserError, UserDraft};
    let role: twisterlab_domain::role::Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = crate::config::Secret::new(line.trim_end_matches(['\r', '\n']));
    let database = db::connect(&config).await?;
    let result = async {
        db::migrate(&database.pool).await?;
        let mut tx = database.pool.begin().await?;
        let draft =
            UserDraft { email, display_name: name, role, password: &password, must_change_password: false };
        match accounts::create_user(&mut tx, &crate::db::audit::Actor::cli(), &draft).await {
            Ok(user) => {
                tx.commit().await?;
                println!("created {} ({}) with role {}", user.email, user.display_name, user.role);
                Ok(())
            }
            Err(CreateUserError::Invalid(errors)) => {
                let why: Vec<String> = errors
                    .iter()
                    .map(|e| format!("--{}: {}", e.field.replace('_', "-"), e.message))
                    .collect();
                anyhow::bail!("user not created: {}", why.join("; "))
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    database.shutdown().await;
    result
}

/// `twisterlab-portal demo-target`.
pub async fn demo_target(bind: SocketAddr, slow_delay_ms: u64) -> anyhow::Result<()> {
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}: choose another --bind"))?;
    let options = crate::demo_target::DemoTargetOptions { slow_delay: Duration::from_millis(slow_delay_ms) };
    crate::demo_target::serve(listener, options, async {
        let signal = shutdown_signal().await;
        tracing::info!(signal, "demo target shutting down");
    })
    .await
    .context("the demo target failed")
}

async fn wait_for(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Resolves on SIGTERM (Kubernetes, systemd) or SIGINT (Ctrl-C) with the signal's name.
pub async fn shutdown_signal() -> &'static str {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
        "SIGTERM"
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<&'static str>();
    tokio::select! { s = ctrl_c => s, s = term => s }
}
