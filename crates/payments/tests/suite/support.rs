//! Starts payments in this process against a test database, with the simulated provider, and
//! talks to it over gRPC as the gateway would.

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use df_common::{
    auth::{Role, Subject, TokenSigner, service},
    grpc::request_with_principal,
    ids::UserId,
    secret::Secret,
};
use df_payments::{
    Clock, PaymentsConfig, provider::simulated::SimulatedProvider, testing::TestPayments,
};
use df_proto::payments::v1::payments_client::PaymentsClient;
use df_testkit::{TestBus, TestDb, TestEnv, TestRedis};
use tonic::transport::Channel;

/// A payments instance and what a test needs around it.
pub struct Payments {
    // Dropped first (fields drop in order): the service is told to stop before its namespace
    // on the broker is deleted, or a consumer still running declares its queue again.
    payments: TestPayments,
    pub redis: TestRedis,
    pub bus: TestBus,
    pub signer: Arc<TokenSigner>,
    pub secret: Secret<String>,
    pub clock: Clock,
    pub grpc_addr: SocketAddr,
}

impl Payments {
    /// A fresh database and a running service.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`Payments::start`], with a change to the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut PaymentsConfig)) -> Self {
        let mut env = TestEnv::new();
        let signer = env.gateway_signer();
        // The simulated provider's events reach payments through a relay that does what the
        // gateway's webhook route does: raw body and signature in, IngestWebhook out.
        let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let webhook_url = format!("http://{}/webhook", relay.local_addr().unwrap());
        let payments = TestPayments::start(
            &mut env,
            &webhook_url,
            "https://app.directfanz.test",
            adjust,
        )
        .await;
        let grpc_addr = payments.service.grpc_addr;
        tokio::spawn(relay_webhooks(relay, grpc_addr, signer.clone()));
        let TestEnv { redis, bus, .. } = env;
        Self {
            redis,
            bus,
            signer,
            secret: payments.webhook_secret.clone(),
            clock: payments.clock.clone(),
            grpc_addr,
            payments,
        }
    }

    /// Starts the service again on the same gRPC port and database.
    pub async fn restart(&mut self) {
        self.payments.restart().await;
    }

    /// Stops the service and waits until it drained.
    pub async fn stop(&mut self) {
        self.payments.service.stop().await;
    }

    /// What the running instance's `/metrics` shows now.
    pub async fn metrics(&self) -> String {
        self.payments.service.metrics().await
    }

    /// The payments database.
    pub fn db(&self) -> &TestDb {
        &self.payments.service.db
    }

    /// The simulated provider of the first start (restarts keep its accounts and payments).
    pub fn simulated(&self) -> &SimulatedProvider {
        self.payments.simulated()
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
        self.db().db().conn().await.unwrap()
    }

    /// The one number `sql` selects as `n` (`SELECT count(*)::bigint AS n ...`).
    pub async fn count(&self, sql: &str) -> i64 {
        df_testkit::db::count(&mut *self.conn().await, sql).await
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
