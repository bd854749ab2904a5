//! The probe scheduler: claims due probes through leases in Postgres (so with several portal
//! processes each probe runs once per interval), runs them with bounded concurrency at their
//! jittered times, and records each result with its state change and signal in one transaction.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::probe::{self, Outcome};
use super::rules::step;
use super::signals::{self, Signal};
use super::store::{self, NewResult};
use crate::workers::{BoxFuture, Cadence, NextPass, Stop, Worker};

/// How often the scheduler looks for due probes.
pub const TICK: Duration = Duration::from_millis(500);
/// Probes due within this much of now are claimed (and then wait for their exact time).
pub const LOOKAHEAD: Duration = Duration::from_secs(1);
/// A claim outlives the probe's timeout by this much before another process may take it over.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Most probes claimed in one tick.
pub const MAX_CLAIM: i64 = 1000;
/// Claimed probes waiting or running, per slot of concurrency. Beyond it the scheduler claims
/// nothing more: under overload probes are skipped (and rescheduled when more than an interval
/// late) instead of queueing without bound in memory.
pub const PENDING_PER_SLOT: usize = 2;
/// How many results of a service are attached as evidence to its incident.
const EVIDENCE: i64 = 10;

/// A probe this process has claimed: what to probe and when it was due.
#[derive(Clone, Debug)]
pub struct Claim {
    pub service_id: Uuid,
    pub name: String,
    pub url: String,
    pub expect: std::collections::BTreeMap<String, Value>,
    pub timeout: Duration,
    /// When the probe was due; lateness is measured from here.
    pub scheduled_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    service_id: Uuid,
    name: String,
    url: String,
    expect: Value,
    timeout_ms: i32,
    scheduled_at: OffsetDateTime,
}

/// The probe scheduler of one process.
#[derive(Clone)]
pub struct ProbeScheduler {
    pub pool: PgPool,
    /// Identifies this process's leases.
    pub owner: Uuid,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    concurrency: usize,
    zone: jiff::tz::TimeZone,
}

impl ProbeScheduler {
    /// A scheduler running at most `concurrency` probes at once.
    pub fn new(pool: PgPool, concurrency: usize, zone: jiff::tz::TimeZone) -> Result<Self, reqwest::Error> {
        Ok(Self {
            pool,
            owner: Uuid::new_v4(),
            http: probe::client()?,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1),
            zone,
        })
    }

    /// Claims the enabled probes due within `lookahead`: moves each one's next run one interval
    /// on and leases it to this process, in one statement (`SKIP LOCKED`, so concurrent
    /// processes split the work instead of doubling it). A service that fell more than an
    /// interval behind (the portal was down) restarts at a random point of its next interval.
    pub async fn claim(&self, lookahead: Duration) -> Result<Vec<Claim>, sqlx::Error> {
        self.claim_at_most(lookahead, MAX_CLAIM).await
    }

    /// [`ProbeScheduler::claim`], at most `limit` probes.
    pub async fn claim_at_most(&self, lookahead: Duration, limit: i64) -> Result<Vec<Claim>, sqlx::Error> {
        let rows: Vec<ClaimRow> = sqlx::query_as(
            "with due as (
                 select st.service_id, st.next_run_at
                   from health_service_state st
                   join health_services s on s.id = st.service_id
                  where s.enabled
                    and st.next_run_at <= now() + make_interval(secs => $2)
                    and (st.lease_until is null or st.lease_until < now())
                  order by st.next_run_at
                  limit $3
                  for update of st skip locked
             )
             update health_service_state st
                set lease_owner = $1,
                    lease_until = greatest(due.next_run_at, now()) + make_interval(secs => s.timeout_ms / 1000.0 + $4),
                    next_run_at = case
                        when due.next_run_at + make_interval(secs => s.interval_seconds) > now()
                            then due.next_run_at + make_interval(secs => s.interval_seconds)
                        else now() + make_interval(secs => s.interval_seconds * random()) end
               from due, health_services s
              where st.service_id = due.service_id and s.id = st.service_id
          returning st.service_id, s.name, s.url, s.expect, s.timeout_ms,
                    case when due.next_run_at < now() - make_interval(secs => s.interval_seconds)
                         then now() else due.next_run_at end as scheduled_at",
        )
        .bind(self.owner)
        .bind(lookahead.as_secs_f64())
        .bind(limit)
        .bind(LEASE_MARGIN.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Claim {
                service_id: r.service_id,
                expect: store::expect_map(&r.expect),
                timeout: Duration::from_millis(u64::try_from(r.timeout_ms).unwrap_or(2000)),
                name: r.name,
                url: r.url,
                scheduled_at: r.scheduled_at,
            })
            .collect())
    }

    /// Waits for the claim's time and a free slot, probes, and records the result.
    pub async fn run_claim(&self, claim: Claim) -> Result<Signal, anyhow::Error> {
        let wait = (claim.scheduled_at - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
        tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
        let _permit = self.permits.acquire().await?;
        let started_at = OffsetDateTime::now_utc();
        let outcome = probe::probe(&self.http, &claim.url, claim.timeout, &claim.expect).await;
        drop(_permit);
        self.record(&claim, started_at, &outcome).await
    }

    /// Stores one outcome: the raw result, the new state and, on a state change that matters,
    /// the signal into incidents — in one transaction under the service's state row lock.
    pub async fn record(
        &self,
        claim: &Claim,
        started_at: OffsetDateTime,
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
        let new = NewResult {
            service_id: claim.service_id,
            scheduled_at: claim.scheduled_at,
            started_at,
            ok: outcome.ok(),
            latency_ms: outcome.latency_ms(),
            http_status: outcome.http_status,
            failure: failure.map(|f| f.kind),
            reason: failure.map(|f| f.reason.as_str()),
            excerpt: if outcome.ok() { None } else { outcome.excerpt.as_deref() },
        };
        store::save_result(&mut tx, &new, next.to, next.to != from, next.consecutive_failures, self.owner)
            .await?;
        let signal = if next.went_down() || next.recovered() {
            match store::find(&mut *tx, claim.service_id).await? {
                Some(service) => {
                    let evidence = store::recent_results(&mut *tx, claim.service_id, EVIDENCE).await?;
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
    pub async fn run_once(&self) -> Result<usize, anyhow::Error> {
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

    /// Runs until `stop` turns true: every [`TICK`] claims what is due within [`LOOKAHEAD`]
    /// and starts it without waiting, so a slow probe never delays the others.
    async fn schedule(self, mut stop: Stop) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut running: JoinSet<()> = JoinSet::new();
        let mut last_warning: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
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
