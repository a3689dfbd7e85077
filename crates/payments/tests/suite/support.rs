//! Starts payments in this process against a test database, with the simulated provider, and
//! talks to it over gRPC as the gateway would.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, OnceLock},
    time::Duration,
};

use df_common::{
    auth::{Role, Subject, TokenSigner, service},
    config::InternalAuthConfig,
    grpc::request_with_principal,
    ids::UserId,
    secret::Secret,
};
use df_payments::{Clock, PaymentsConfig, provider::simulated::SimulatedProvider};
use df_proto::payments::v1::payments_client::PaymentsClient;
use df_testkit::{TestBus, TestDb, TestRedis};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// A payments instance and what a test needs around it.
pub struct Payments {
    pub db: TestDb,
    pub redis: TestRedis,
    pub bus: TestBus,
    pub signer: Arc<TokenSigner>,
    pub secret: Secret<String>,
    pub clock: Clock,
    pub grpc_addr: SocketAddr,
    admin_url: String,
    config: PaymentsConfig,
    running: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
    simulated: Arc<OnceLock<SimulatedProvider>>,
}

impl Payments {
    /// A fresh database and a running service.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`Payments::start`], with a change to the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut PaymentsConfig)) -> Self {
        df_common::telemetry::init_for_tests();
        let db = TestDb::new(
            "payments",
            df_payments::MIGRATIONS,
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"),
        )
        .await;
        let redis = TestRedis::new();
        let bus = TestBus::new();
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
        let secret: Secret<String> = format!("whsec_{}", uuid::Uuid::new_v4().simple()).into();
        let mut config = PaymentsConfig::default();
        config.base.database = db.config();
        config.base.redis = redis.config();
        config.base.bus = bus.config();
        config.base.internal_auth = InternalAuthConfig {
            verifying_keys: [("k1".to_owned(), public)].into_iter().collect(),
            ..InternalAuthConfig::default()
        };
        config.own.webhooks.signing_secret = secret.clone();
        config.own.tax = df_payments::tax::TaxConfig::ephemeral();
        config.own.checkout.return_origins = vec!["https://app.directfanz.test".into()];
        let grpc = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let grpc_addr = grpc.local_addr().unwrap();
        drop(grpc);
        // The simulated provider's events reach payments through a relay that does what the
        // gateway's webhook route does: raw body and signature in, IngestWebhook out.
        let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        config.own.provider.simulated.webhook_url =
            format!("http://{}/webhook", relay.local_addr().unwrap());
        config.own.provider.simulated.delivery_attempts = 50;
        tokio::spawn(relay_webhooks(relay, grpc_addr, signer.clone()));
        adjust(&mut config);
        let mut payments = Self {
            db,
            redis,
            bus,
            signer,
            secret,
            clock: Clock::system(),
            grpc_addr,
            admin_url: String::new(),
            config,
            running: None,
            simulated: Arc::new(OnceLock::new()),
        };
        payments.restart().await;
        payments
    }

    /// Starts the service (again) on the same gRPC port and database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let grpc = bind_with_retry(self.grpc_addr).await;
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.admin_url = format!("http://{}", admin.local_addr().unwrap());
        let simulated = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = self.config.clone();
        config.own.provider.simulated.public_url =
            format!("http://{}", simulated.local_addr().unwrap());
        let listeners = df_runtime::Listeners { grpc, admin };
        let wiring = df_payments::Wiring {
            clock: Some(self.clock.clone()),
            simulated_pages: Some(simulated),
            simulated: Some(self.simulated.clone()),
            service: None,
        };
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = df_payments::serve(config, listeners, wiring, token).await {
                panic!("payments stopped: {e:?}");
            }
        });
        self.running = Some((shutdown, task));
        self.wait_until_ready().await;
    }

    /// Stops the service and waits until it drained.
    pub async fn stop(&mut self) {
        if let Some((shutdown, task)) = self.running.take() {
            shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    }

    async fn wait_until_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if client
                .get(format!("{}/readyz", self.admin_url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "payments never became ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The admin listener (`/metrics`, `/readyz`) of the running instance.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The simulated provider of the first start (restarts keep its accounts and payments).
    pub fn simulated(&self) -> &SimulatedProvider {
        self.simulated
            .get()
            .expect("payments started with the simulated provider")
    }

    /// A gRPC client (connects lazily, reconnects after restarts).
    pub fn client(&self) -> PaymentsClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.grpc_addr))
            .unwrap()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(20))
            .connect_lazy();
        PaymentsClient::new(channel)
    }

    /// A request carrying the gateway's service principal (provider webhooks).
    pub fn as_service<T>(&self, message: T) -> tonic::Request<T> {
        self.as_service_named(service::GATEWAY, message)
    }

    /// A request carrying the media service's principal (entitlement checks about any fan).
    pub fn as_media<T>(&self, message: T) -> tonic::Request<T> {
        self.as_service_named(service::MEDIA, message)
    }

    /// A request carrying the principal of the service `name`, acting for itself.
    pub fn as_service_named<T>(&self, name: &str, message: T) -> tonic::Request<T> {
        let token = self
            .signer
            .mint(
                Subject::Service { name: name.into() },
                vec![Role::Service],
                service::PAYMENTS,
            )
            .unwrap();
        request_with_principal(message, &token).unwrap()
    }

    /// A request carrying a user's principal.
    pub fn as_user<T>(&self, user: uuid::Uuid, role: Role, message: T) -> tonic::Request<T> {
        let token = self
            .signer
            .mint(
                Subject::User {
                    user_id: UserId::from_uuid(user),
                },
                vec![role],
                service::PAYMENTS,
            )
            .unwrap();
        request_with_principal(message, &token).unwrap()
    }

    /// A connection to the payments database.
    pub async fn conn(&self) -> df_runtime::db::PooledConn {
        self.db.db().conn().await.unwrap()
    }

    /// The one number `sql` selects as `n` (`SELECT count(*)::bigint AS n ...`).
    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = self.conn().await;
        diesel_async::RunQueryDsl::get_result::<Count>(diesel::sql_query(sql), &mut conn)
            .await
            .unwrap()
            .n
    }
}

/// A row of one bigint column `n`.
#[derive(diesel::QueryableByName)]
pub struct Count {
    /// The number.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub n: i64,
}

async fn bind_with_retry(addr: SocketAddr) -> tokio::net::TcpListener {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "rebinding {addr}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn relay_webhooks(
    listener: tokio::net::TcpListener,
    grpc_addr: SocketAddr,
    signer: Arc<TokenSigner>,
) {
    use axum::{body::Bytes, http::HeaderMap, http::StatusCode, routing::post};
    let channel = Channel::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect_lazy();
    let app = axum::Router::new().route(
        "/webhook",
        post(move |headers: HeaderMap, body: Bytes| {
            let mut client = PaymentsClient::new(channel.clone());
            let signer = signer.clone();
            async move {
                let signature = headers
                    .get("stripe-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let token = signer
                    .mint(
                        Subject::Service {
                            name: "gateway".into(),
                        },
                        vec![Role::Service],
                        service::PAYMENTS,
                    )
                    .unwrap();
                let request = request_with_principal(
                    df_proto::payments::v1::IngestWebhookRequest {
                        payload: body.to_vec(),
                        signature,
                    },
                    &token,
                )
                .unwrap();
                match client.ingest_webhook(request).await {
                    Ok(_) => StatusCode::OK,
                    Err(s) if s.code() == tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                }
            }
        }),
    );
    let _ = axum::serve(listener, app).await;
}

/// Stripe's published example of every API object, by object name (`charge`, `invoice`, ...),
/// from `tests/fixtures/stripe/resources.json`.
pub fn stripe_fixtures() -> &'static serde_json::Value {
    static FIXTURES: OnceLock<serde_json::Value> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let text = include_str!("../fixtures/stripe/resources.json");
        serde_json::from_str::<serde_json::Value>(text).unwrap()["resources"].clone()
    })
}

/// Stripe's example event with `object` inside.
pub fn stripe_event(
    id: &str,
    event_type: &str,
    created: i64,
    object: serde_json::Value,
) -> serde_json::Value {
    let mut event = stripe_fixtures()["event"].clone();
    event["id"] = serde_json::json!(id);
    event["type"] = serde_json::json!(event_type);
    event["created"] = serde_json::json!(created);
    event["data"] = serde_json::json!({ "object": object });
    event
}
