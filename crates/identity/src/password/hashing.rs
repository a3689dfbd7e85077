//! Password storage with argon2id.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) carrying their own
//! parameters, so raising the cost later only needs [`needs_rehash`] at the next successful login.
//! The parameters are OWASP's recommended minimum for argon2id: 19 MiB of memory, two passes, one
//! lane.
//!
//! One hash costs tens of milliseconds of CPU and 19 MiB of memory, so request handlers should use
//! the `*_async` forms, which run on Tokio's blocking pool instead of stalling an async worker.
//! Those forms also share one process-wide limit on how many run at once, so a burst of logins
//! cannot exhaust memory or queue unbounded CPU work: a caller that cannot start within
//! [`PERMIT_WAIT`] gets `identity.busy` (503) and is asked to retry.

use crate::errors::IdentityError;
use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use df_common::Error;
use rand::RngCore;
use tokio::sync::Semaphore;

/// Memory cost in KiB (OWASP: 19 MiB).
pub const M_COST_KIB: u32 = 19_456;
/// Number of passes.
pub const T_COST: u32 = 2;
/// Degree of parallelism.
pub const P_COST: u32 = 1;
/// Length of the derived hash in bytes.
const OUTPUT_LEN: usize = 32;
/// Length of the random salt in bytes.
const SALT_LEN: usize = 16;

/// How long an `*_async` call waits for a free slot before answering `identity.busy`.
pub const PERMIT_WAIT: Duration = Duration::from_secs(5);

/// Slots for concurrent hashes: two per CPU keeps every core busy while one hash per core waits
/// for its turn, and caps the memory at a few dozen MiB per core however many requests arrive.
static PERMITS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    Arc::new(Semaphore::new(cpus.saturating_mul(2).max(2)))
});

/// A password no account has, hashed once on first use. Verifying against it makes a login for
/// an unknown account cost as much as one for a known account, so response times do not reveal
/// which emails are registered.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(
        || match hash_password("df-identity timing equaliser: never a real password") {
            Ok(hash) => Some(hash),
            Err(error) => {
                tracing::error!(
                    code = error.code(),
                    "could not compute the dummy password hash"
                );
                None
            }
        },
    );

fn hasher() -> Result<Argon2<'static>, Error> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN))
        .map_err(|e| Error::internal(anyhow::anyhow!("invalid argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh random salt and returns the PHC string to store.
pub fn hash_password(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; SALT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::internal(anyhow::anyhow!("could not encode a salt: {e}")))?;
    let hash = hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::internal(anyhow::anyhow!("argon2 hashing failed: {e}")))?;
    Ok(hash.to_string())
}

/// True when `password` matches the stored PHC string `phc`. A malformed `phc` never matches.
/// The hash's own parameters are used, so hashes made with older settings still verify.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        tracing::warn!("stored password hash is not a valid PHC string");
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        tracing::warn!(algorithm = %parsed.algorithm, "stored password hash uses an unexpected algorithm");
        return false;
    }
    // Parameters come from `parsed`; the instance only supplies the algorithm implementation.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Does the work of [`verify_password`] against a fixed hash and throws the answer away. Call it
/// when the account does not exist, so that path takes as long as a real verification.
pub fn dummy_verify(password: &str) {
    if let Some(hash) = DUMMY_HASH.as_deref() {
        std::hint::black_box(verify_password(password, hash));
    }
}

/// True when `phc` was not made with the current algorithm, version and parameters (or cannot be
/// read), so it should be replaced by a fresh hash of the password just verified.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident()
        || parsed.version != Some(Version::V0x13.into())
    {
        return true;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    params.m_cost() != M_COST_KIB
        || params.t_cost() != T_COST
        || params.p_cost() != P_COST
        || parsed.hash.map(|h| h.len()) != Some(OUTPUT_LEN)
}

/// The answer when no hashing slot frees up in time.
fn busy() -> Error {
    Error::from(IdentityError::Busy).with_retry_after(Duration::from_secs(1))
}

/// Runs `work` on the blocking pool once `slots` grants a permit, waiting at most `wait`.
async fn run_limited<T: Send + 'static>(
    slots: &Arc<Semaphore>,
    wait: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let permit = match tokio::time::timeout(wait, Arc::clone(slots).acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(closed)) => return Err(Error::internal(closed)),
        Err(_elapsed) => return Err(busy()),
    };
    // The permit moves into the task: if the caller gives up (a client disconnects), the slot
    // stays taken until the hash actually finishes, so the limit holds for the real work.
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
    .map_err(|e| Error::internal(anyhow::anyhow!("password hashing task failed: {e}")))
}

/// [`hash_password`] on the blocking thread pool, within the process-wide limit.
pub async fn hash_password_async(password: String) -> Result<String, Error> {
    run_limited(&PERMITS, PERMIT_WAIT, move || hash_password(&password)).await?
}

/// [`verify_password`] on the blocking thread pool, within the process-wide limit. Fails only if
/// no slot frees up in time (`identity.busy`) or the task could not run.
pub async fn verify_password_async(password: String, phc: String) -> Result<bool, Error> {
    run_limited(&PERMITS, PERMIT_WAIT, move || {
        verify_password(&password, &phc)
    })
    .await
}

/// [`dummy_verify`] on the blocking thread pool, within the process-wide limit.
pub async fn dummy_verify_async(password: String) -> Result<(), Error> {
    run_limited(&PERMITS, PERMIT_WAIT, move || dummy_verify(&password)).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn hash_with(params: Params, algorithm: Algorithm, password: &str) -> String {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        Argon2::new(algorithm, Version::V0x13, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("orbit lantern marmalade").unwrap();
        assert!(verify_password("orbit lantern marmalade", &hash));
        assert!(!verify_password("orbit lantern marmalade ", &hash));
        assert!(!verify_password("Orbit lantern marmalade", &hash));
        assert!(!verify_password("", &hash));
    }

    #[test]
    fn hashes_use_argon2id_with_owasp_parameters_and_fresh_salts() {
        let a = hash_password("same password here").unwrap();
        let b = hash_password("same password here").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salts must differ");
        assert!(!a.contains("same password"));
        assert!(!needs_rehash(&a));
    }

    #[test]
    fn malformed_or_foreign_hashes_never_verify() {
        assert!(!verify_password("x", ""));
        assert!(!verify_password("x", "not a phc string"));
        assert!(!verify_password(
            "x",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$"
        ));
        let argon2i = hash_with(
            Params::new(256, 1, 1, None).unwrap(),
            Algorithm::Argon2i,
            "x",
        );
        assert!(!verify_password("x", &argon2i));
        assert!(needs_rehash(&argon2i));
    }

    #[test]
    fn hashes_with_other_parameters_verify_but_need_rehash() {
        let weak = hash_with(
            Params::new(8_192, 1, 1, None).unwrap(),
            Algorithm::Argon2id,
            "old but valid password",
        );
        assert!(verify_password("old but valid password", &weak));
        assert!(needs_rehash(&weak));
        let more_passes = hash_with(
            Params::new(M_COST_KIB, 3, P_COST, None).unwrap(),
            Algorithm::Argon2id,
            "p",
        );
        assert!(needs_rehash(&more_passes));
        let short_output = hash_with(
            Params::new(M_COST_KIB, T_COST, P_COST, Some(16)).unwrap(),
            Algorithm::Argon2id,
            "p",
        );
        assert!(needs_rehash(&short_output));
        assert!(needs_rehash("garbage"));
    }

    #[test]
    fn the_dummy_hash_costs_the_same_as_a_real_one() {
        // Equal timing follows from equal parameters: the dummy must be a current-settings hash.
        let dummy = DUMMY_HASH.as_deref().unwrap();
        assert!(!needs_rehash(dummy));
        assert!(!verify_password("anything", dummy));
        dummy_verify("anything");
    }

    #[tokio::test]
    async fn async_wrappers_match_the_blocking_functions() {
        let hash = hash_password_async("spawned blocking password".into())
            .await
            .unwrap();
        assert!(
            verify_password_async("spawned blocking password".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password_async("wrong".into(), hash).await.unwrap());
        dummy_verify_async("whatever".into()).await.unwrap();
    }

    #[tokio::test]
    async fn a_full_limiter_answers_busy_within_its_bound() {
        let slots = Arc::new(Semaphore::new(2));
        let _held = Arc::clone(&slots).acquire_many_owned(2).await.unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let wait = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let flag = Arc::clone(&ran);
        let error = run_limited(&slots, wait, move || {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        })
        .await
        .unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(error.kind(), df_common::ErrorKind::Unavailable);
        assert!(IdentityError::Busy.is(&error));
        assert!(error.message().contains("try again"), "{}", error.message());
        assert!(elapsed >= wait, "gave up early: {elapsed:?}");
        assert!(
            elapsed < wait + Duration::from_secs(2),
            "waited {elapsed:?}"
        );
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst),
            "work ran without a slot"
        );
    }

    #[tokio::test]
    async fn a_slot_freed_within_the_bound_lets_the_work_run() {
        let slots = Arc::new(Semaphore::new(1));
        let held = Arc::clone(&slots).acquire_owned().await.unwrap();
        let waiter = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move { run_limited(&slots, Duration::from_secs(10), || 42).await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished(), "the work ran without a slot");
        drop(held);
        assert_eq!(waiter.await.unwrap().unwrap(), 42);
        assert_eq!(
            slots.available_permits(),
            1,
            "the slot is returned after the work"
        );
    }
}
