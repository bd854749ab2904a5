//! Process lifecycle: start-up (database, migrations, listener), serving, graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::db;
use crate::state::AppState;

/// `twisterlab-portal serve`, with `--demo` when `demo`.
pub async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let database = db::connect(&config).await?;
    tracing::info!(db.location = %database.location, "connected to PostgreSQL");
    let result = serve_with(&config, &database, demo).await;
    database.shutdown().await;
    result
}

async fn serve_with(config: &Config, database: &db::Database, demo: bool) -> anyhow::Result<()> {
    let applied = db::migrate(&database.pool).await?;
    tracing::info!(migrations.applied = applied, "database schema is current");
    crate::accounts::service::users::bootstrap_admin(
        &database.pool,
        config.admin_email.as_deref(),
        config.admin_password.as_ref(),
    )
    .await?;

    start_up(config, &database.pool, demo).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let listener = TcpListener::bind(config.bind).await.with_context(|| {
        format!("cannot listen on {}: set TWISTERLAB_BIND to a free address:port", config.bind)
    })?;
    let mut state = AppState::new(database.pool.clone(), config.clone(), database.location.clone());
    if demo {
        let simulated = crate::demo::Simulated::start(stop_tx.subscribe()).await?;
        crate::demo::service::point_services(&database.pool, &simulated).await?;
        tracing::warn!(
            demo.services = simulated.len(),
            "demo mode: simulated TwisterLab services run inside the portal; admins break them at /admin/demo"
        );
        state = state.with_demo(simulated);
    }
    match &state.target_db {
        Some(target) => {
            tracing::info!(
                db.target = target.location(),
                "runbook database diagnostics read the monitored database (connected at first use)"
            )
        }
        None => tracing::info!(
            "no monitored database configured (TWISTERLAB_TARGET_DATABASE_URL): the runbooks' database steps say so"
        ),
    }
    let lifecycle = state.lifecycle.clone();
    let worker_rows = crate::workers::table(&state)?;
    let app = crate::app(state);

    let local = listener.local_addr()?;
    tracing::info!(http.bind = %local, status_host = %config.status_host, "TwisterLab Ops Portal is listening on http://{local}");

    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(wait_for(stop_rx));
    let mut server = tokio::spawn(async move { server.await });
    let workers = crate::workers::spawn_all(worker_rows, &database.pool, stop_tx.subscribe());

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

/// What the configuration file declares and the workers act on, written to the database before
/// they start: the `[[services]]` to probe and the notification channels named by settings; and
/// the component status history, brought up to date with the current roll-up rules.
/// Without `--demo`, demo services left by an earlier demo run are disabled.
/// A failure is logged and the portal runs with what is stored.
pub(crate) async fn start_up(config: &Config, pool: &sqlx::PgPool, demo: bool) -> anyhow::Result<()> {
    // A runbook file that does not load stops the start, naming file, line and field.
    crate::runbooks::loader::load_shipped(pool).await?;
    if let Err(e) = crate::status_page::history::reconcile(pool).await {
        tracing::warn!(error = %e, "cannot bring the component status history up to date; the uptime bars show the last recorded statuses until each component's next change");
    }
    if let Err(e) = crate::overview::service::reconcile_file_services(pool, &config.services).await {
        tracing::error!(error = %e, "cannot reconcile [[services]] from the configuration file; probing what is stored");
    }
    if !demo {
        match crate::demo::service::retire(pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(demo.services = n, "disabled the demo services of an earlier --demo run"),
            // They are never probed without --demo either way (the scheduler skips them).
            Err(e) => tracing::warn!(error = %e, "cannot disable the demo services of an earlier --demo run"),
        }
    }
    match crate::escalation::channels::sync_configured(pool, config).await {
        Ok(n) if n > 0 => tracing::info!(channels.added = n, "added the channels named by the configuration"),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot record the configured channels; their notifications wait until the next start")
        }
    }
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
    use crate::accounts::service::{AccountError, users};
    let role: twisterlab_domain::role::Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = crate::config::Secret::new(line.trim_end_matches(['\r', '\n']));
    let database = db::connect(&config).await?;
    let result = async {
        db::migrate(&database.pool).await?;
        let mut tx = database.pool.begin().await?;
        let draft = users::UserDraft {
            email,
            display_name: name,
            role,
            password: &password,
            must_change_password: false,
        };
        match users::create_user(&mut tx, &crate::db::audit::Actor::cli(), &draft).await {
            Ok(user) => {
                tx.commit().await?;
                println!("created {} ({}) with role {}", user.email, user.display_name, user.role);
                Ok(())
            }
            Err(AccountError::Invalid(errors)) => {
                anyhow::bail!("user not created: {}", cli_field_errors(&errors))
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    database.shutdown().await;
    result
}

/// `twisterlab-portal create-token`: prints the token and nothing else on standard output, so
/// scripts can capture it (`TOKEN=$(twisterlab-portal create-token …)`).
pub async fn create_token(
    config: Config,
    email: &str,
    name: &str,
    role: Option<&str>,
    expires_days: Option<u32>,
) -> anyhow::Result<()> {
    let database = db::connect(&config).await?;
    let result = async {
        db::migrate(&database.pool).await?;
        create_token_on(&database.pool, email, name, role, expires_days).await
    }
    .await;
    database.shutdown().await;
    println!("{}", result?);
    Ok(())
}

/// The work of `create-token`: finds the active user, then issues the token through the same
/// use case as the account page (the role defaults to the user's and may not exceed it);
/// returns the token.
async fn create_token_on(
    pool: &sqlx::PgPool,
    email: &str,
    name: &str,
    role: Option<&str>,
    expires_days: Option<u32>,
) -> anyhow::Result<String> {
    use crate::accounts::service::{AccountError, tokens};
    let mut tx = pool.begin().await?;
    let Some(user) = db::users::find_by_email(&mut *tx, email.trim()).await? else {
        anyhow::bail!(
            "no user has the e-mail address {:?}; create one first with `twisterlab-portal create-user`",
            email.trim()
        );
    };
    if !user.active {
        anyhow::bail!(
            "{} is deactivated; an admin must reactivate the account before it can have tokens",
            user.email
        );
    }
    let days = expires_days.map(|d| d.to_string()).unwrap_or_default();
    let request =
        tokens::TokenRequest { name, role: role.unwrap_or(user.role.as_str()), expires_days: &days };
    match tokens::issue_token(&mut tx, &db::audit::Actor::cli(), &user, user.role, &request).await {
        Ok(issued) => {
            // No log line here: logs go to standard output, which carries only the token.
            tx.commit().await?;
            Ok(issued.secret)
        }
        Err(AccountError::Invalid(errors)) => {
            anyhow::bail!("token not created for {}: {}", user.email, cli_field_errors(&errors))
        }
        Err(e) => Err(e.into()),
    }
}

/// Form-field messages as command-line option messages: `--expires-days: …; --role: …`.
fn cli_field_errors(errors: &[crate::validation::FieldError]) -> String {
    let why: Vec<String> =
        errors.iter().map(|e| format!("--{}: {}", e.field.replace('_', "-"), e.message)).collect();
    why.join("; ")
}

/// `twisterlab-portal demo-target`.
pub async fn demo_target(bind: SocketAddr, slow_delay_ms: u64) -> anyhow::Result<()> {
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}: choose another --bind"))?;
    let options =
        twisterlab_demo_target::DemoTargetOptions { slow_delay: Duration::from_millis(slow_delay_ms) };
    twisterlab_demo_target::serve(listener, options, async {
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

#[cfg(test)]
mod tests {
    use sqlx::PgPool;
    use twisterlab_domain::role::Role;

    use super::*;
    use crate::testing;
    use crate::validation::FieldError;

    #[test]
    fn field_messages_become_option_messages() {
        let errors = [FieldError::new("expires_days", "Too long."), FieldError::new("role", "Too high.")];
        assert_eq!(cli_field_errors(&errors), "--expires-days: Too long.; --role: Too high.");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn create_token_returns_a_working_token_with_the_users_role_audited_as_cli(pool: PgPool) {
        let user = testing::user(&pool, Role::Responder).await;
        let email = user.email.to_uppercase();
        let secret = create_token_on(&pool, &email, "alertmanager", None, Some(30)).await.expect("created");
        let found = db::api_tokens::find_live(&pool, &crate::auth::token::digest(&secret))
            .await
            .expect("query")
            .expect("the token is live");
        assert_eq!(
            (found.user_id, found.role, found.name.as_str()),
            (user.id, Role::Responder, "alertmanager")
        );
        assert!(found.expires_at.is_some());
        let rows = testing::audit_actions(&pool, "api_token.create").await;
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].actor_label.as_str(), rows[0].actor_user_id), ("cli", None));
        assert!(!format!("{:?}", rows[0]).contains(&secret[4..]));
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn create_token_refuses_unknown_inactive_too_high_and_duplicate_requests(pool: PgPool) {
        let err = create_token_on(&pool, "nobody@example.com", "ci", None, None).await.expect_err("unknown");
        assert!(err.to_string().contains("no user has the e-mail address"), "{err}");

        let viewer = testing::user(&pool, Role::Viewer).await;
        let err =
            create_token_on(&pool, &viewer.email, "ci", Some("admin"), None).await.expect_err("too high");
        assert!(err.to_string().contains("--role: A token cannot have a higher role"), "{err}");
        let err = create_token_on(&pool, &viewer.email, "ci", None, Some(0)).await.expect_err("zero days");
        assert!(err.to_string().contains("--expires-days:"), "{err}");

        create_token_on(&pool, &viewer.email, "ci", Some("viewer"), None).await.expect("first");
        let err = create_token_on(&pool, &viewer.email, "ci", None, None).await.expect_err("duplicate");
        assert!(err.to_string().contains("--name: A token with this name already exists"), "{err}");

        sqlx::query("update users set active = false where id = $1")
            .bind(viewer.id)
            .execute(&pool)
            .await
            .expect("deactivate");
        let err = create_token_on(&pool, &viewer.email, "other", None, None).await.expect_err("inactive");
        assert!(err.to_string().contains("is deactivated"), "{err}");

        let count: i64 =
            sqlx::query_scalar("select count(*) from api_tokens").fetch_one(&pool).await.expect("n");
        assert_eq!(count, 1, "only the first request made a token");
        assert_eq!(testing::audit_actions(&pool, "api_token.create").await.len(), 1);
    }
}
