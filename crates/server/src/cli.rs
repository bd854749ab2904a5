//! The command line: `serve` (default), `migrate`, `check-config`, `create-user`, `create-token`,
//! `demo-target`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// TwisterLab Ops Portal: incidents, SLAs, runbooks and the public status page.
///
/// Configuration comes from TWISTERLAB_* environment variables and DATABASE_URL, optionally
/// from a TOML file (--config); `check-config` lists every setting.
#[derive(Debug, Parser)]
#[command(name = "twisterlab-portal", version, about, long_about = None)]
pub struct Cli {
    /// TOML configuration file; environment variables override its values.
    #[arg(long, global = true, env = "TWISTERLAB_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the portal: connect to (or start) PostgreSQL, migrate, serve HTTP (the default).
    Serve {
        /// Demo mode: simulated TwisterLab services run inside the portal, demo services probe
        /// them, and admins break them from /admin/demo. Without it no demo data is used.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Validate the configuration and print the effective values, secrets masked.
    CheckConfig,
    /// Create a user; the password is read from standard input (one line).
    CreateUser {
        /// E-mail address, used to sign in.
        #[arg(long)]
        email: String,
        /// viewer, responder, commander, manager or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Display name; defaults to the e-mail's local part.
        #[arg(long, default_value = "")]
        name: String,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Create an API token for a user and print only the token (for `TOKEN=$(…)` in scripts).
    CreateToken {
        /// E-mail address of the (active) user the token acts for.
        #[arg(long)]
        email: String,
        /// Name of the token, unique among the user's live tokens (e.g. "alertmanager").
        #[arg(long)]
        name: String,
        /// viewer, responder, commander, manager or admin; at most the user's role, which is the default.
        #[arg(long)]
        role: Option<String>,
        /// Days until the token expires (1 to 365); without it, the token never expires.
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// Serve a simulated TwisterLab API (/health, /metrics, POST /mode) for demos and tests.
    DemoTarget {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        bind: SocketAddr,
        /// How long the `slow` mode waits before answering, in milliseconds.
        #[arg(long, default_value_t = 3000)]
        slow_delay_ms: u64,
    },
}
