//! What one unauthenticated webhook request can make payments spend on its signature check:
//! the largest body accepted, under the most expensive `Stripe-Signature` header that fits the
//! header limit, against an honest request of the same size. Run by
//! `scripts/bench/webhook-signature`.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use df_common::secret::Secret;
use df_payments::webhook::signature::{self, MAX_PAYLOAD_BYTES};

/// Times `check` over `rounds` runs; returns microseconds per call.
fn per_call(rounds: u32, mut check: impl FnMut() -> bool) -> f64 {
    let started = Instant::now();
    let mut accepted = 0;
    for _ in 0..rounds {
        accepted += u32::from(check());
    }
    std::hint::black_box(accepted);
    started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}

fn main() {
    let secrets: Vec<Secret<String>> = vec!["whsec_bench_current".into(), "whsec_bench_old".into()];
    let body = vec![b'x'; MAX_PAYLOAD_BYTES];
    let now = chrono::Utc::now().timestamp();
    let honest = signature::sign(&body, &secrets[0], now);

    // The header limit filled with empty `v1=` entries, signed at the epoch's first second.
    let mut forged = String::from("t=1");
    while forged.len() + 4 <= 2_048 {
        forged.push_str(",v1=");
    }
    // The same limit filled with well-formed (wrong) 32-byte signatures and a fresh timestamp.
    let mut well_formed = format!("t={now}");
    while well_formed.len() + 68 <= 2_048 {
        well_formed.push_str(",v1=");
        well_formed.push_str(&"ab".repeat(32));
    }

    // The most signatures a well-formed header may carry, all wrong.
    let mut most_candidates = format!("t={now}");
    for _ in 0..signature::MAX_CANDIDATES {
        most_candidates.push_str(",v1=");
        most_candidates.push_str(&"ab".repeat(32));
    }

    let verify = |header: &str| signature::verify(&body, header, &secrets, 300, now).is_ok();
    let rows = [
        ("honest signature", per_call(200, || verify(&honest))),
        (
            "stale t=1, header filled with empty v1= entries",
            per_call(3, || verify(&forged)),
        ),
        (
            "fresh t, header filled with wrong 32-byte v1= entries",
            per_call(20, || verify(&well_formed)),
        ),
        (
            "fresh t, the most v1= entries a well-formed header may carry, all wrong",
            per_call(100, || verify(&most_candidates)),
        ),
    ];
    println!("| 256 KiB body, 2 secrets, 2 KiB header limit | µs per request |");
    println!("|---|---:|");
    for (what, micros) in rows {
        println!("| {what} | {micros:.1} |");
    }
}
