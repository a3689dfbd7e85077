//! Measures payments on this machine: webhook ingestion (signature check, inbox, state, ledger,
//! commit) through the gRPC API, and entitlement checks answered from the Redis cache.
//! Run through `scripts/bench/payments`; prints a Markdown table.
//!
//! Settings (environment): BENCH_EVENTS (20000 per ingestion run), BENCH_CHECKS (20000 per
//! concurrency level), BENCH_CONCURRENCY (events in flight, one ingestion run per level,
//! comma-separated: `32,128`). Each run starts once the relay has published the previous
//! run's events, so runs do not compete with each other's background work.
//! The client runs in the same process as the service, so both share this machine's cores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::{
    path::Path,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use df_common::{
    auth::{Role, Subject, TokenSigner, service},
    config::InternalAuthConfig,
    grpc::request_with_principal,
    secret::Secret,
};
use df_payments::{PaymentsConfig, webhook::signature};
use df_proto::payments::v1::{self as pb, payments_client::PaymentsClient};
use futures::StreamExt;
use serde_json::json;
use tonic::transport::Channel;
use uuid::Uuid;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let events = setting("BENCH_EVENTS", 20_000);
    let checks = setting("BENCH_CHECKS", 20_000);
    let levels: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "32,128".into())
        .split(',')
        .map(|level| level.trim().parse().expect("BENCH_CONCURRENCY: numbers"))
        .collect();

    let db = df_testkit::TestDb::new(
        "payments_bench",
        df_payments::MIGRATIONS,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"),
    )
    .await;
    let redis = df_testkit::TestRedis::new();
    let bus = df_testkit::TestBus::new();
    let (seed, public) = df_common::auth::generate_key_pair();
    let signer = Arc::new(
        TokenSigner::from_config(
            &InternalAuthConfig {
                signing_key: Some(seed),
                ..InternalAuthConfig::default()
            },
            service::GATEWAY,
        )
        .unwrap(),
    );
    let secret: Secret<String> = format!("whsec_{}", Uuid::new_v4().simple()).into();
    let mut config = PaymentsConfig::default();
    config.base.database = db.config();
    config.base.redis = redis.config();
    config.base.bus = bus.config();
    config.base.internal_auth = InternalAuthConfig {
        verifying_keys: [("k1".to_owned(), public)].into_iter().collect(),
        ..InternalAuthConfig::default()
    };
    config.base.database.max_connections = 16;
    config.own.webhooks.signing_secret = secret.clone();
    config.own.tax = df_payments::tax::TaxConfig::ephemeral();
    config.own.checkout.return_origins = vec!["https://app.directfanz.test".into()];
    config.own.provider.simulated.webhook_url = "http://127.0.0.1:9/unused".into();
    config.own.provider.simulated.delivery_attempts = 1;
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = grpc.local_addr().unwrap();
    let listeners = df_runtime::Listeners {
        grpc,
        admin: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let service_slot = Arc::new(OnceLock::new());
    let wiring = df_payments::Wiring {
        clock: None,
        simulated_pages: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        simulated: Some(Arc::new(OnceLock::new())),
        webhooks: Some(service_slot.clone()),
    };
    let server = tokio::spawn(df_payments::serve(
        config,
        listeners,
        wiring,
        shutdown.clone(),
    ));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let client = PaymentsClient::new(channel);
    // Service principals, minted again before each phase as services do before their tokens
    // expire: the gateway's hands over webhooks, the media service's asks about entitlements.
    let mint_as = |name: &str| {
        signer
            .mint(
                Subject::Service { name: name.into() },
                vec![Role::Service],
                service::PAYMENTS,
            )
            .unwrap()
    };
    let mint = || mint_as(service::MEDIA);
    let service_token = mint();
    // Wait until the server answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let probe = client
            .clone()
            .check_entitlement(
                request_with_principal(
                    pb::CheckEntitlementRequest {
                        fan_id: Uuid::nil().to_string(),
                        creator_id: Uuid::nil().to_string(),
                        ppv_item_id: String::new(),
                        min_tier_id: String::new(),
                    },
                    &service_token,
                )
                .unwrap(),
            )
            .await;
        if probe.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "payments did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let creators: Vec<Uuid> = (0..100).map(|_| Uuid::now_v7()).collect();
    let fans: Vec<Uuid> = (0..1_000).map(|_| Uuid::now_v7()).collect();
    // 1. Entitlement checks: a cached answer for the same fan and creator, after warm-up, measured
    //    first, on a machine not yet busy with the background work (vacuum, checkpoints) that
    //    ingestion leaves behind.
    let service_token = mint();
    let question = pb::CheckEntitlementRequest {
        fan_id: fans[0].to_string(),
        creator_id: creators[0].to_string(),
        ppv_item_id: String::new(),
        min_tier_id: String::new(),
    };
    for _ in 0..100 {
        client
            .clone()
            .check_entitlement(request_with_principal(question.clone(), &service_token).unwrap())
            .await
            .unwrap();
    }
    let mut latency_rows = Vec::new();
    for in_flight in [1_usize, 4, 8] {
        let service_token = mint();
        let mut latencies: Vec<Duration> = futures::stream::iter((0..checks).map(|_| {
            let mut client = client.clone();
            let request = request_with_principal(question.clone(), &service_token).unwrap();
            async move {
                let started = Instant::now();
                client.check_entitlement(request).await.unwrap();
                started.elapsed()
            }
        }))
        .buffer_unordered(in_flight)
        .collect()
        .await;
        latencies.sort();
        latency_rows.push((
            in_flight,
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
        ));
    }

    // 2. Webhook ingestion: signed tip events for 100 creators and 1,000 fans, first through the
    //    gRPC API (as the gateway calls it), then straight into the pipeline (verify + apply +
    //    ledger, no transport).
    let now = chrono::Utc::now().timestamp();
    let body = |n: usize| {
        json!({"id": format!("evt_bench_{n}"), "type": "payment_intent.succeeded",
            "object": "event", "created": now,
            "data": {"object": {"id": format!("pi_bench_{n}"), "object": "payment_intent",
                "amount": 500 + (n % 5_000) as i64, "amount_received": 500 + (n % 5_000) as i64,
                "currency": "usd", "status": "succeeded",
                "metadata": {"kind": "tip", "fan_id": fans[n % fans.len()].to_string(),
                             "creator_id": creators[n % creators.len()].to_string()}}}})
        .to_string()
    };
    let webhooks = service_slot.get().expect("payments started").clone();
    let service = webhooks.service().clone();
    let mut ingestion_rows = Vec::new();
    let mut next_event = 0;
    for &concurrency in &levels {
        let mut sign_next = |count: usize| -> Vec<(Vec<u8>, String)> {
            let signed = (next_event..next_event + count)
                .map(|n| {
                    let payload = body(n);
                    let header = signature::sign(
                        payload.as_bytes(),
                        &secret,
                        chrono::Utc::now().timestamp(),
                    );
                    (payload.into_bytes(), header)
                })
                .collect();
            next_event += count;
            signed
        };
        let over_grpc = sign_next(events);
        let direct = sign_next(events);
        let service_token = mint_as(service::GATEWAY);
        let started = Instant::now();
        let failures = futures::stream::iter(over_grpc.into_iter().map(|(payload, header)| {
            let mut client = client.clone();
            let token = service_token.clone();
            async move {
                let request = request_with_principal(
                    pb::IngestWebhookRequest {
                        payload,
                        signature: header,
                    },
                    &token,
                )
                .unwrap();
                client.ingest_webhook(request).await.is_err()
            }
        }))
        .buffer_unordered(concurrency)
        .filter(|failed| futures::future::ready(*failed))
        .count()
        .await;
        let grpc_rate = events as f64 / started.elapsed().as_secs_f64();
        assert_eq!(failures, 0, "some events were not applied");
        wait_for_relay(&service).await;

        let started = Instant::now();
        // Each delivery in its own task, as the gRPC server runs each request, so that both
        // cores work on deliveries.
        let failures = futures::stream::iter(direct.into_iter().map(|(payload, header)| {
            let webhooks = webhooks.clone();
            async move {
                tokio::spawn(async move { webhooks.ingest(&payload, &header).await.is_err() })
                    .await
                    .unwrap_or(true)
            }
        }))
        .buffer_unordered(concurrency)
        .filter(|failed| futures::future::ready(*failed))
        .count()
        .await;
        let direct_rate = events as f64 / started.elapsed().as_secs_f64();
        assert_eq!(failures, 0, "some events were not applied");
        // The next run starts once the relay is done, so they do not compete for the cores.
        wait_for_relay(&service).await;
        ingestion_rows.push((concurrency, grpc_rate, direct_rate));
    }

    println!("| measurement | result |");
    println!("|---|---:|");
    for (concurrency, grpc_rate, direct_rate) in ingestion_rows {
        println!(
            "| webhook ingestion through gRPC (`IngestWebhook`), {events} events, {concurrency} in flight | {grpc_rate:.0} events/s |"
        );
        println!(
            "| webhook ingestion in process (verify + apply + ledger), {events} events, {concurrency} in flight | {direct_rate:.0} events/s |"
        );
    }
    for (in_flight, p50, p99) in latency_rows {
        println!(
            "| entitlement check from cache over gRPC, {in_flight} in flight: p50 / p99 | {:.2} ms / {:.2} ms |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    shutdown.cancel();
    let _ = server.await;
}

/// Waits until the relay has published every event in the outbox.
async fn wait_for_relay(service: &df_payments::Service) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut conn = service.db.conn().await.unwrap();
        if df_runtime::bus::outbox::backlog(&mut conn).await.unwrap() == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
