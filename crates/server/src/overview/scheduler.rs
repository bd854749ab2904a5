//! The probe scheduler: claims due probes through leases in Postgres (so with several portal
//! processes each probe runs once per interval), runs them with bounded concurrency at their
//! jittered times, and records each result with its state change and signal in one transaction.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use twisterlab_domain::health::{counts_down, step};
use uuid::Uuid;

use super::probe::{self, Outcome};
use super::signals::{self, Signal};
use crate::db::health::{self as store, NewState};
use crate::db::probe_results::{self, NewResult};
use crate::workers::{BoxFuture, Cadence, NextPass, Stop, Worker};

pub(crate) use crate::db::health::Claim;

/// How often the scheduler looks for due probes.
pub(crate) const TICK: Duration = Duration::from_millis(500);
/// Probes due within this much of now are claimed (and then wait for their exact time).
pub(crate) const LOOKAHEAD: Duration = Duration::from_secs(1);
/// A claim outlives the probe's timeout by this much before another process may take it over.
pub(crate) const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Most probes claimed in one tick.
pub(crate) const MAX_CLAIM: i64 = 1000;
/// Claimed probes waiting or running, per slot of concurrency. Beyond it the scheduler claims
/// nothing more: under overload probes are skipped (and rescheduled when more than an interval
/// late) instead of queueing without bound in memory.
pub(crate) const PENDING_PER_SLOT: usize = 2;
/// At start, probes later than this came due while no portal ran (a running scheduler claims
/// each one up to [`LOOKAHEAD`] before it is due): they are spread over their interval instead of
/// all running at the first claim (see [`ProbeScheduler::spread_late`]).
pub(crate) const LATE_AT_START: Duration = Duration::from_secs(2);
/// How many results of a service are attached as evidence to its incident.
const EVIDENCE: i64 = 10;

/// The probe scheduler of one process.
#[derive(Clone)]
pub(crate) struct ProbeScheduler {
    pub pool: PgPool,
    /// Identifies this process's leases.
    pub owner: Uuid,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    concurrency: usize,
    zone: jiff::tz::TimeZone,
    /// Whether demo services are probed: only in a portal started with `--demo`.
    include_demo: bool,
}

impl ProbeScheduler {
    /// A scheduler running at most `concurrency` probes at once.
    pub(crate) fn new(
        pool: PgPool,
        concurrency: usize,
        zone: jiff::tz::TimeZone,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            pool,
            owner: Uuid::new_v4(),
            http: probe::client()?,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1),
            zone,
            include_demo: false,
        })
    }

    /// Probes the demo services too (`serve --demo`); without it they are never claimed.
    pub(crate) fn including_demo(self, include_demo: bool) -> Self {
        Self { include_demo, ..self }
    }

    /// Claims the enabled probes due within `lookahead` for this process (see
    /// [`store::claim_due`]: concurrent processes split the work instead of doubling it).
    pub(crate) async fn claim(&self, lookahead: Duration) -> Result<Vec<Claim>, sqlx::Error> {
        self.claim_at_most(lookahead, MAX_CLAIM).await
    }

    /// [`ProbeScheduler::claim`], at most `limit` probes.
    pub(crate) async fn claim_at_most(
        &self,
        lookahead: Duration,
        limit: i64,
    ) -> Result<Vec<Claim>, sqlx::Error> {
        store::claim_due(&self.pool, self.owner, lookahead, limit, LEASE_MARGIN, self.include_demo).await
    }

    /// Spreads the probes that came due while no portal ran over their interval (see
    /// [`store::spread_late`]), so that a restart does not probe every service at the same
    /// instant. The scheduler does it once, before its first claim.
    pub(crate) async fn spread_late(&self) -> Result<u64, sqlx::Error> {
        store::spread_late(&self.pool, LATE_AT_START, self.include_demo).await
    }

    /// Waits for the claim's time and a free slot, probes, and records the result.
    pub(crate) async fn run_claim(&self, claim: Claim) -> Result<Signal, anyhow::Error> {
        // A claim due in the past converts to no wait at all.
        let wait =
            Duration::try_from(claim.scheduled_at.duration_since(Timestamp::now())).unwrap_or_default();
        tokio::time::sleep(wait).await;
        let _permit = self.permits.acquire().await?;
        let started_at = Timestamp::now();
        let outcome = probe::probe(&self.http, &claim.url, claim.timeout, &claim.expect).await;
        drop(_permit);
        self.record(&claim, started_at, &outcome).await
    }

    /// Stores one outcome: the raw result, the new state and, on a state change that matters,
    /// the signal into incidents — in one transaction under the service's state row lock.
    pub(crate) async fn record(
        &self,
        claim: &Claim,
        started_at: Timestamp,
        outcome: &Outcome,
    ) -> Result<Signal, anyhow::Error> {
        let mut tx = self.pool.begin().await?;
        let Some(locked) = store::lock_state(&mut tx, claim.service_id).await? else {
            // Deleted while it was probed.
            return Ok(Signal::None);
        };
        let from = locked.state;
        let next = step(from, locked.consecutive_failures, outcome.ok(), locked.failures_before_down);
        let failure = outcome.failure();
        let reason = failure.map(|f| f.reason.as_str());
        probe_results::insert(
            &mut *tx,
            &NewResult {
                service_id: claim.service_id,
                scheduled_at: claim.scheduled_at,
                started_at,
                ok: outcome.ok(),
                latency_ms: outcome.latency_ms(),
                http_status: outcome.http_status,
                failure: failure.map(|f| f.kind),
                reason,
                excerpt: if outcome.ok() { None } else { outcome.excerpt.as_deref() },
            },
        )
        .await?;
        let passes = if outcome.ok() { locked.consecutive_passes.saturating_add(1) } else { 0 };
        let counts_down = counts_down(locked.counts_down, &next, passes, locked.passes_before_up);
        let new_state = NewState {
            state: next.to,
            changed: next.changed(),
            consecutive_failures: next.consecutive_failures,
            consecutive_passes: passes,
            counts_down,
            checked_at: started_at,
            ok: outcome.ok(),
            latency_ms: outcome.latency_ms(),
            reason,
        };
        store::record_state(&mut *tx, claim.service_id, &new_state, self.owner).await?;
        if counts_down != locked.counts_down
            && let Some(component_id) = locked.component_id
        {
            // The component follows its services: record its public status and wake the
            // status page, in this transaction.
            crate::status_page::history::record(&mut tx, &[component_id]).await?;
            crate::db::status::notify(&mut *tx).await?;
        }
        let signal = if next.went_down() || next.recovered() {
            match store::find(&mut *tx, claim.service_id).await? {
                Some(service) => {
                    let evidence = probe_results::recent(&mut *tx, claim.service_id, EVIDENCE).await?;
                    signals::on_step(&mut tx, &self.zone, &service, &next, locked.state_since, &evidence)
                        .await?
                }
                None => Signal::None,
            }
        } else {
            Signal::None
        };
        tx.commit().await?;
        if next.to != from {
            tracing::info!(
                service.name = %claim.name,
                service.from = %from,
                service.to = %next.to,
                probe.reason = failure.map(|f| f.reason.as_str()).unwrap_or(""),
                "service state changed"
            );
        }
        Ok(signal)
    }

    /// One pass for tests and tools: claims what is due now and runs it to completion.
    /// Returns the number of probes run.
    pub(crate) async fn run_once(&self) -> Result<usize, anyhow::Error> {
        let claims = self.claim(Duration::ZERO).await?;
        let count = claims.len();
        let mut set = JoinSet::new();
        for claim in claims {
            let me = self.clone();
            set.spawn(async move { me.run_claim(claim).await });
        }
        while let Some(joined) = set.join_next().await {
            joined??;
        }
        Ok(count)
    }

    /// Runs until `stop` turns true: first spreads the probes missed while no portal ran, then
    /// every [`TICK`] claims what is due within [`LOOKAHEAD`] and starts it without waiting, so
    /// a slow probe never delays the others.
    async fn schedule(self, mut stop: Stop) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut running: JoinSet<()> = JoinSet::new();
        let mut last_warning: Option<Instant> = None;
        let mut spread = false;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
            }
            if !spread {
                match self.spread_late().await {
                    Ok(moved) => {
                        spread = true;
                        if moved > 0 {
                            tracing::info!(
                                probes.spread = moved,
                                "probes missed while the portal was down resume at random points of their interval"
                            );
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot spread the probes missed while the portal was down; retrying");
                        continue;
                    }
                }
            }
            while running.try_join_next().is_some() {}
            let room = (self.concurrency * PENDING_PER_SLOT).saturating_sub(running.len());
            if room == 0 {
                if last_warning.is_none_or(|at: Instant| at.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(
                        probes.pending = running.len(),
                        "probes fall behind: every slot is busy (slow or hanging targets); raise TWISTERLAB_PROBE_CONCURRENCY"
                    );
                    last_warning = Some(Instant::now());
                }
                continue;
            }
            match self.claim_at_most(LOOKAHEAD, i64::try_from(room).unwrap_or(MAX_CLAIM).min(MAX_CLAIM)).await
            {
                Ok(claims) => {
                    for claim in claims {
                        let me = self.clone();
                        running.spawn(async move {
                            let name = claim.name.clone();
                            if let Err(e) = me.run_claim(claim).await {
                                tracing::warn!(service.name = %name, error = %e, "probe result not recorded");
                            }
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot claim due probes; retrying"),
            }
        }
        // In-flight probes end within their timeout; unfinished ones are dropped and their
        // leases expire, so another process picks them up.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !running.is_empty() && Instant::now() < deadline {
            let _ = tokio::time::timeout(Duration::from_millis(100), running.join_next()).await;
        }
        running.abort_all();
        tracing::debug!(worker = "probes", "stopped");
    }
}

impl Worker for ProbeScheduler {
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async move {
            ProbeScheduler::run_once(self).await?;
            Ok(None)
        })
    }

    /// Its own loop: probes stay in flight across ticks, so a hanging target never delays
    /// the others.
    fn run(
        self: Arc<Self>,
        _name: &'static str,
        _cadence: Cadence,
        _listen: PgPool,
        stop: Stop,
    ) -> BoxFuture<'static, ()> {
        Box::pin(Self::clone(&self).schedule(stop))
    }
}
