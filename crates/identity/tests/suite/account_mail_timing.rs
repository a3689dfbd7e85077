//! Password-reset and resend-verification requests are answered after the same work whether or
//! not the address has an account, so their timing tells nothing: for each kind of request, the
//! answer times for registered, unverified addresses and for unknown ones agree.
//!
//! The two kinds of address are asked in pairs, back to back and in alternating order, so
//! whatever else the machine does slows both alike; the median of the pairs' differences
//! discards the outliers a shared machine produces. Each pair starts once the background work
//! of the previous one (composing and sending an email) is done, so that work, which follows the
//! answer, does not land on one kind of request more than the other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use df_common::auth::{Role, Subject, service};
use df_common::grpc::request_with_principal;
use df_proto::identity::v1 as pb;
use tonic::Code;

use crate::support::{Running, start};

/// Requests of each kind per address kind.
const SAMPLES: usize = 41;

fn gateway_token(running: &Running) -> String {
    running
        .signer
        .mint(
            Subject::Service {
                name: service::GATEWAY.into(),
            },
            vec![Role::Service],
            service::IDENTITY,
        )
        .unwrap()
}

/// Signs up `email` (left unverified) as the gateway would, once identity answers.
async fn sign_up(running: &Running, email: &str, username: &str) {
    let answer = df_testkit::eventually_some("identity answers", async || {
        let request = request_with_principal(
            pb::SignupRequest {
                email: email.into(),
                username: username.into(),
                password: "quiet orbit lantern 7 maple".into(),
                role: pb::Role::Fan.into(),
            },
            &gateway_token(running),
        )
        .unwrap();
        match running.client.clone().signup(request).await {
            Err(status) if status.code() == Code::Unavailable => None,
            answer => Some(answer),
        }
    })
    .await;
    if let Err(status) = answer {
        panic!("signup refused: {status:?}");
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Reset,
    Resend,
}

/// How long identity takes to answer one request of `kind` for `email`.
async fn answer_time(running: &Running, kind: Kind, email: &str) -> Duration {
    let token = gateway_token(running);
    let mut client = running.client.clone();
    let started = Instant::now();
    match kind {
        Kind::Reset => client
            .request_password_reset(
                request_with_principal(
                    pb::RequestPasswordResetRequest {
                        email: email.into(),
                    },
                    &token,
                )
                .unwrap(),
            )
            .await
            .map(|_| ()),
        Kind::Resend => client
            .resend_verification(
                request_with_principal(
                    pb::ResendVerificationRequest {
                        email: email.into(),
                    },
                    &token,
                )
                .unwrap(),
            )
            .await
            .map(|_| ()),
    }
    .unwrap();
    started.elapsed()
}

/// Waits until every recorded request was composed and every queued email sent.
async fn quiet(conn: &mut diesel_async::AsyncPgConnection) {
    let pending = "SELECT (SELECT count(*) FROM account_mail_requests) \
                   + (SELECT count(*) FROM mail_queue) AS n";
    df_testkit::eventually("mail work finished", async || {
        df_testkit::db::count(conn, pending).await == 0
    })
    .await;
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_and_resend_take_as_long_for_unknown_addresses_as_for_accounts() {
    let running = start().await;
    // One account per sample, so every request for a registered address is its account's first
    // (the one that would issue a token and queue an email).
    let mut accounts = Vec::new();
    for n in 0..SAMPLES {
        let email = format!("timing{n}@example.com");
        sign_up(&running, &email, &format!("timing{n}")).await;
        accounts.push(email);
    }
    let mut conn = {
        use diesel_async::AsyncConnection;
        diesel_async::AsyncPgConnection::establish(running.db().url())
            .await
            .unwrap()
    };
    for kind in [Kind::Reset, Kind::Resend] {
        // Warm the connection pool and the statement cache on both paths.
        for _ in 0..5 {
            answer_time(&running, kind, "warm@example.com").await;
            answer_time(&running, kind, &accounts[0]).await;
        }
        let (mut differences, mut all) = (Vec::new(), Vec::new());
        for (n, account) in accounts.iter().enumerate() {
            quiet(&mut conn).await;
            let stranger = format!("nobody{n}-{kind:?}@example.com");
            let (known, unknown) = if n % 2 == 0 {
                let known = answer_time(&running, kind, account).await;
                (known, answer_time(&running, kind, &stranger).await)
            } else {
                let unknown = answer_time(&running, kind, &stranger).await;
                (answer_time(&running, kind, account).await, unknown)
            };
            differences.push(known.as_secs_f64() - unknown.as_secs_f64());
            all.extend([known.as_secs_f64(), unknown.as_secs_f64()]);
        }
        let (difference, typical) = (median(differences), median(all));
        // The paths do the same work; what is left is scheduling noise. (Before requests were
        // deferred, a registered address took about twice as long.)
        assert!(
            difference.abs() <= typical * 0.15 + 0.000_3,
            "{kind:?}: accounts take {:.2} ms longer than unknown addresses (typical answer {:.2} ms)",
            difference * 1e3,
            typical * 1e3
        );
    }
    running.stop().await;
}
