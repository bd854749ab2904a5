//! Sleeping until a deadline or a `NOTIFY`, whichever comes first, on a `LISTEN` connection
//! that reconnects by itself (a lost notification only costs the sleep's upper bound).

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

/// A `LISTEN` on one channel, connected lazily.
pub struct Wakeup {
    pool: PgPool,
    channel: &'static str,
    listener: Option<PgListener>,
}

impl Wakeup {
    pub fn new(pool: PgPool, channel: &'static str) -> Self {
        Self { pool, channel, listener: None }
    }

    /// Returns after a notification (`true`) or after `max` (`false`).
    ///
    /// When it is not listening yet (first call, or after the connection failed) it connects
    /// and returns `true` at once: notifications sent before the `LISTEN` took effect are lost,
    /// so the caller must look at the database again. Without a connection it sleeps at most
    /// one second, so callers keep checking while it reconnects.
    pub async fn wait(&mut self, max: Duration) -> bool {
        let channel = self.channel;
        let Some(listener) = self.listener.as_mut() else {
            let connected = async {
                let mut listener = PgListener::connect_with(&self.pool).await?;
                listener.listen(channel).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            match connected.await {
                Ok(listener) => {
                    self.listener = Some(listener);
                    return true;
                }
                Err(e) => {
                    tracing::debug!(error = %e, channel, "cannot LISTEN; polling until it can");
                    tokio::time::sleep(max.min(Duration::from_secs(1))).await;
                    return false;
                }
            }
        };
        tokio::select! {
            received = listener.recv() => match received {
                Ok(_) => {
                    // Several notifications in one burst need one wake-up.
                    while listener.next_buffered().is_some() {}
                    true
                }
                Err(e) => {
                    tracing::debug!(error = %e, channel, "the LISTEN connection failed; reconnecting");
                    self.listener = None;
                    tokio::time::sleep(max.min(Duration::from_millis(200))).await;
                    false
                }
            },
            _ = tokio::time::sleep(max) => false,
        }
    }

    /// Receives and discards every notification for `window` (they are covered by the pass
    /// about to run), so a burst of changes within it is one pass. Reading the connection
    /// matters: notifications still in the socket are not "buffered" and would wake the next
    /// wait at once, making a second pass for the same burst.
    pub async fn absorb(&mut self, window: Duration) {
        let Some(listener) = self.listener.as_mut() else {
            tokio::time::sleep(window).await;
            return;
        };
        let deadline = tokio::time::Instant::now() + window;
        let failed = loop {
            match tokio::time::timeout_at(deadline, listener.recv()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => break Some(e),
                Err(_) => break None,
            }
        };
        if let Some(e) = failed {
            // The next `wait` reconnects and asks for a pass, as after any lost connection.
            tracing::debug!(error = %e, channel = self.channel, "the LISTEN connection failed; reconnecting");
            self.listener = None;
            tokio::time::sleep_until(deadline).await;
        }
    }
}
