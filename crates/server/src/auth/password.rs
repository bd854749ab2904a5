//! Password hashing (argon2id, OWASP parameters) and the rules for new passwords.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::Secret;

/// OWASP's current argon2id recommendation: 19 MiB of memory, 2 iterations, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

/// Shortest accepted password, in characters.
pub const MIN_LENGTH: usize = 12;
/// Longest accepted password; argon2 does not care, but a 1 MB "password" is an attack.
pub const MAX_LENGTH: usize = 256;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("the OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A job for the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

/// Jobs waiting per hashing thread before new work is refused: at ~50 ms per verification in a
/// release build, a full queue is answered within about a second and a half.
pub const QUEUE_PER_THREAD: usize = 32;

/// Why hashing did not run.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every slot of the queue is taken: answer 429 and let the client come back.
    #[error("the password hashing queue is full")]
    Busy,
    #[error("the password hashing threads have stopped")]
    Stopped,
}

/// argon2 runs on a few dedicated threads, one per core, fed by a bounded queue. Each
/// computation takes 19 MiB and a core's worth of CPU: running more at once adds no
/// throughput, only memory, and the allocator keeps freed blocks per thread, so a fixed small
/// set of threads keeps a burst of sign-in attempts from pushing the process past its memory
/// limit. A full queue refuses new work at once ([`HashError::Busy`]) instead of making every
/// caller wait past its timeout, and a queued job whose caller has gone is skipped.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<HasherInner>,
}

struct HasherInner {
    queue: Mutex<SyncSender<Job>>,
    /// Jobs sent and not yet taken by a thread.
    waiting: AtomicUsize,
    capacity: usize,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("capacity", &self.inner.capacity).finish_non_exhaustive()
    }
}

impl Hasher {
    /// `threads` hashing threads with room for `capacity` waiting jobs.
    pub fn new(threads: usize, capacity: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(capacity);
        let inner = Arc::new(HasherInner { queue: Mutex::new(tx), waiting: AtomicUsize::new(0), capacity });
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let weak = Arc::downgrade(&inner);
            let spawned = std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if let Some(inner) = weak.upgrade() {
                        inner.waiting.fetch_sub(1, Ordering::SeqCst);
                    }
                    job();
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self { inner }
    }

    /// The process's hashing threads (one per core), shared by every caller.
    pub fn shared() -> Self {
        static SHARED: OnceLock<Hasher> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
                Hasher::new(threads, threads * QUEUE_PER_THREAD)
            })
            .clone()
    }

    /// Jobs waiting for a thread.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::SeqCst)
    }

    /// Runs `work` on the hashing threads and waits for its result. A caller that stops
    /// waiting (its request was cancelled) leaves a job that is skipped when its turn comes.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if done.is_closed() {
                return;
            }
            let _ = done.send(work());
        });
        self.inner.waiting.fetch_add(1, Ordering::SeqCst);
        let sent = match self.inner.queue.lock() {
            Ok(queue) => queue.try_send(job),
            Err(_) => {
                self.inner.waiting.fetch_sub(1, Ordering::SeqCst);
                return Err(HashError::Stopped);
            }
        };
        if let Err(e) = sent {
            self.inner.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(match e {
                TrySendError::Full(_) => HashError::Busy,
                TrySendError::Disconnected(_) => HashError::Stopped,
            });
        }
        result.await.map_err(|_| HashError::Stopped)
    }

    /// Hashes `password` off the async runtime (argon2 takes tens of milliseconds of CPU).
    pub async fn hash(&self, password: &Secret) -> anyhow::Result<String> {
        let password = password.clone();
        self.run(move || hash_blocking(password.expose())).await?
    }

    /// Checks `password` against `stored`; see [`verify`].
    pub async fn verify(&self, password: &Secret, stored: Option<String>) -> Result<Verification, HashError> {
        let password = password.clone();
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let verdict = self.run(move || verify_blocking(password.expose(), &stored)).await?;
        Ok(match verdict {
            Verification::Valid { rehash } if known => Verification::Valid { rehash },
            _ => Verification::Invalid,
        })
    }
}

/// Hashes `password` on the shared hashing threads.
pub async fn hash(password: &Secret) -> anyhow::Result<String> {
    Hasher::shared().hash(password).await
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

/// The outcome of checking a password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    /// Correct; `rehash` is true when the stored hash uses other parameters than today's.
    Valid {
        rehash: bool,
    },
    Invalid,
}

/// Checks `password` against `stored`. With no stored hash (unknown e-mail) it checks against a
/// dummy hash, so an unknown account costs the same time as a wrong password.
pub async fn verify(password: &Secret, stored: Option<String>) -> Verification {
    Hasher::shared().verify(password, stored).await.unwrap_or(Verification::Invalid)
}

fn verify_blocking(password: &str, stored: &str) -> Verification {
    let Ok(parsed) = PasswordHash::new(stored) else {
        tracing::error!("a stored password hash is not a valid PHC string");
        return Verification::Invalid;
    };
    if argon2().verify_password(password.as_bytes(), &parsed).is_err() {
        return Verification::Invalid;
    }
    Verification::Valid { rehash: needs_rehash(&parsed) }
}

fn needs_rehash(parsed: &PasswordHash) -> bool {
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(parsed) {
        Ok(p) => p.m_cost() != MEMORY_KIB || p.t_cost() != ITERATIONS || p.p_cost() != LANES,
        Err(_) => true,
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("not a real password, only for timing").unwrap_or_default())
}

/// Very common passwords and their stems; a candidate that is one of them with only digits or
/// symbols around it is refused. (Length alone already refuses most leaked passwords.)
const COMMON_STEMS: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssword",
    "p@ssw0rd",
    "qwerty",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "azerty",
    "letmein",
    "welcome",
    "admin",
    "administrator",
    "root",
    "iloveyou",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "master",
    "shadow",
    "superman",
    "batman",
    "trustno1",
    "starwars",
    "whatever",
    "freedom",
    "secret",
    "changeme",
    "default",
    "login",
    "abc",
    "abcdef",
    "abcdefgh",
    "qwe",
    "asd",
    "twisterlab",
    "twister",
    "incident",
    "status",
    "operations",
    "summer",
    "winter",
    "spring",
    "autumn",
    "hello",
    "access",
    "michael",
    "jennifer",
    "charlie",
    "computer",
    "internet",
    "google",
    "samsung",
    "1q2w3e4r",
    "1qaz2wsx",
    "q1w2e3r4",
    "zaq12wsx",
    "qazwsx",
    "test",
    "testing",
    "guest",
    "user",
];

/// Why a new password is refused, in words for the form.
pub fn check_new_password(password: &str, email: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!(
            "Use at least {MIN_LENGTH} characters (this one has {chars}). A few unrelated words work well."
        ));
    }
    if chars > MAX_LENGTH {
        return Err(format!("Use at most {MAX_LENGTH} characters."));
    }
    let lower = password.to_lowercase();
    let distinct: std::collections::HashSet<char> = lower.chars().collect();
    if distinct.len() <= 3 {
        return Err("This password repeats too few characters; choose something less predictable.".into());
    }
    if is_sequence(&lower) {
        return Err(
            "This password is a keyboard or number sequence; choose something less predictable.".into()
        );
    }
    let core: String = lower.trim_matches(|c: char| !c.is_alphabetic()).to_owned();
    let stem_only = |s: &str| {
        COMMON_STEMS.iter().any(|stem| {
            // The stem, repeated or followed/preceded by digits and symbols only.
            let rest = s.replace(stem, "");
            s.contains(stem) && rest.chars().all(|c| !c.is_alphabetic())
        })
    };
    if stem_only(&lower) || (!core.is_empty() && stem_only(&core)) {
        return Err("This is one of the most common passwords; choose something less predictable.".into());
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.len() >= 4 && lower.contains(&local) {
        return Err("Do not use your e-mail address in your password.".into());
    }
    Ok(())
}

fn is_sequence(s: &str) -> bool {
    const RUNS: &[&str] = &[
        "0123456789012345678901234567890",
        "9876543210987654321098765432109",
        "abcdefghijklmnopqrstuvwxyz",
        "qwertyuiopasdfghjklzxcvbnm",
    ];
    RUNS.iter().any(|run| run.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_are_refused_with_the_minimum() {
        let err = check_new_password("short-one", "a@b.c").unwrap_err();
        assert!(err.contains("12"), "{err}");
    }

    #[test]
    fn very_common_passwords_are_refused() {
        for pw in [
            "password1234",
            "Password123!",
            "qwertyuiop12",
            "123456789012",
            "iloveyou2024!",
            "aaaaaaaaaaaaaa",
            "letmeinletmein",
            "TwisterLab2026!",
        ] {
            assert!(check_new_password(pw, "someone@example.com").is_err(), "{pw} should be refused");
        }
    }

    #[test]
    fn a_passphrase_is_accepted() {
        assert_eq!(check_new_password("correct horse battery staple", "alice@example.com"), Ok(()));
        assert_eq!(check_new_password("Blue-Tractor-Under-7-Moons", "alice@example.com"), Ok(()));
    }

    #[test]
    fn the_email_name_may_not_be_the_password() {
        assert!(check_new_password("alicesmith-is-here", "alicesmith@example.com").is_err());
    }

    #[tokio::test]
    async fn a_hash_uses_argon2id_with_owasp_parameters_and_verifies() {
        let pw = Secret::new("correct horse battery staple");
        let stored = hash(&pw).await.expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert_eq!(verify(&pw, Some(stored.clone())).await, Verification::Valid { rehash: false });
        assert_eq!(
            verify(&Secret::new("wrong horse battery staple"), Some(stored)).await,
            Verification::Invalid
        );
    }

    /// Occupies `hasher`'s only thread until the returned sender is dropped or sent to.
    async fn occupy(hasher: &Hasher) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let h = hasher.clone();
        let task = tokio::spawn(async move {
            let _ = h
                .run(move || {
                    let _ = started_tx.send(());
                    let _ = wait.recv();
                })
                .await;
        });
        started.await.expect("the thread takes the job");
        (release, task)
    }

    /// Polls `condition` until it holds, for at most five seconds.
    async fn eventually(mut condition: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !condition() {
            assert!(std::time::Instant::now() < deadline, "the condition never held");
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_full_hashing_queue_refuses_new_work_at_once() {
        let hasher = Hasher::new(1, 2);
        let (release, busy) = occupy(&hasher).await;
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let h = hasher.clone();
                tokio::spawn(async move { h.run(|| 1).await })
            })
            .collect();
        eventually(|| hasher.waiting() == 2).await;
        let refused = hasher.run(|| 1).await;
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        release.send(()).expect("release");
        busy.await.expect("busy job");
        for job in queued {
            assert_eq!(job.await.expect("join").expect("ran"), 1);
        }
    }

    #[tokio::test]
    async fn queued_work_whose_caller_has_gone_is_skipped() {
        let hasher = Hasher::new(1, 4);
        let (release, busy) = occupy(&hasher).await;
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let h = hasher.clone();
        let abandoned = tokio::spawn(async move { h.run(move || flag.store(true, Ordering::SeqCst)).await });
        eventually(|| hasher.waiting() == 1).await;
        abandoned.abort();
        let _ = abandoned.await;
        release.send(()).expect("release");
        busy.await.expect("busy job");
        // The queue is first in, first out: once this job ran, the abandoned one had its turn.
        assert_eq!(hasher.run(|| 2).await.expect("runs"), 2);
        assert!(!ran.load(Ordering::SeqCst), "the abandoned verification was not computed");
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert_eq!(
            verify(&Secret::new("not a real password, only for timing"), None).await,
            Verification::Invalid
        );
    }

    #[tokio::test]
    async fn hashes_with_old_parameters_ask_for_a_rehash() {
        let old =
            Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(4096, 3, 1, None).expect("params"));
        let stored = old.hash_password(b"correct horse battery staple").expect("hash").to_string();
        let verdict = verify(&Secret::new("correct horse battery staple"), Some(stored)).await;
        assert_eq!(verdict, Verification::Valid { rehash: true });
    }
}
