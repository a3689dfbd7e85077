//! Media and the payments it asks, started for one test, and gRPC clients acting as its users.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use df_common::{
    Error,
    auth::{Role, Subject, TokenSigner},
    clock::Clock,
    grpc::request_with_principal,
    ids::UserId,
};
use df_media::testing::TestMedia;
use df_payments::testing::TestPayments;
use df_proto::{
    media::v1::{self as pb, media_client::MediaClient},
    payments::v1::payments_client::PaymentsClient,
};
use df_testkit::TestEnv;
use tonic::transport::Channel;

pub use df_testkit::eventually;

/// Media, payments and the gateway's signer.
pub struct World {
    // Both run while the world lives.
    pub media: TestMedia,
    _payments: TestPayments,
    pub clock: Clock,
    signer: Arc<TokenSigner>,
    media_channel: Channel,
    payments_channel: Channel,
    /// The test's Redis prefix, bus namespace and keys.
    pub env: TestEnv,
}

/// A user as the gateway would vouch for them.
#[derive(Clone, Copy, Debug)]
pub struct User {
    pub id: UserId,
    pub role: Role,
}

impl User {
    pub fn new(role: Role) -> Self {
        Self {
            id: UserId::new(),
            role,
        }
    }
}

impl World {
    /// Media on a frozen clock at `now`, with payments.
    pub async fn start(now: DateTime<Utc>) -> Self {
        Self::start_with(now, |_| {}).await
    }

    /// Like [`World::start`], with media's settings changed by `adjust`.
    pub async fn start_with(
        now: DateTime<Utc>,
        adjust: impl FnOnce(&mut df_media::MediaConfig),
    ) -> Self {
        let mut env = TestEnv::new();
        let payments = TestPayments::start(
            &mut env,
            "http://127.0.0.1:9/unused",
            "https://app.directfanz.test",
            |_| {},
        )
        .await;
        let payments_url = format!("http://{}", payments.service.grpc_addr);
        let clock = Clock::frozen(now);
        let media = TestMedia::start(&mut env, clock.clone(), |config| {
            config.own.payments.url = payments_url.clone();
            config.own.feed.preview_chars = 10;
            adjust(config);
        })
        .await;
        let channel = |addr: std::net::SocketAddr| {
            Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_lazy()
        };
        Self {
            media_channel: channel(media.service.grpc_addr),
            payments_channel: channel(payments.service.grpc_addr),
            signer: env.gateway_signer(),
            media,
            _payments: payments,
            clock,
            env,
        }
    }

    /// A request to media as `user`.
    pub fn to_media<T>(&self, user: User, message: T) -> tonic::Request<T> {
        self.request(user, message, df_common::auth::service::MEDIA)
    }

    /// A request to media as the gateway itself (reading signed content).
    pub fn as_gateway<T>(&self, message: T) -> tonic::Request<T> {
        let token = self
            .signer
            .mint(
                Subject::Service {
                    name: df_common::auth::service::GATEWAY.into(),
                },
                vec![Role::Service],
                df_common::auth::service::MEDIA,
            )
            .unwrap();
        request_with_principal(message, &token).unwrap()
    }

    /// A request to payments as `user`.
    pub fn to_payments<T>(&self, user: User, message: T) -> tonic::Request<T> {
        self.request(user, message, df_common::auth::service::PAYMENTS)
    }

    fn request<T>(&self, user: User, message: T, audience: &str) -> tonic::Request<T> {
        let token = self
            .signer
            .mint(
                Subject::User { user_id: user.id },
                vec![user.role],
                audience,
            )
            .unwrap();
        request_with_principal(message, &token).unwrap()
    }

    /// Restarts media (a deployment's restart); later calls reach the new process.
    pub async fn restart_media(&mut self) {
        self.media.restart().await;
        self.reconnect_media();
    }

    /// Restarts media on a runtime of its own, so that [`World::kill_media`] can end it.
    pub async fn restart_media_killable(&mut self) {
        self.media.restart_killable().await;
        self.reconnect_media();
    }

    /// Media listens on new ports after a restart.
    fn reconnect_media(&mut self) {
        self.media_channel =
            Channel::from_shared(format!("http://{}", self.media.service.grpc_addr))
                .unwrap()
                .connect_lazy();
    }

    /// Kills media mid-work, like a killed process.
    pub fn kill_media(&mut self) {
        self.media.kill();
    }

    /// Media's Prometheus metrics, as its admin listener serves them.
    pub async fn metrics(&self) -> String {
        self.media.service.metrics().await
    }

    /// How many runs of the job `kind` media finished, from its metrics.
    pub async fn job_runs(&self, kind: &str) -> u64 {
        let kind = format!("kind=\"{kind}\"");
        df_testkit::metrics::sum_labelled(
            &self.metrics().await,
            "df_jobs_runs_total",
            &[&kind, "outcome=\"done\""],
        )
    }

    pub fn media(&self) -> MediaClient<Channel> {
        MediaClient::new(self.media_channel.clone())
    }

    pub fn payments(&self) -> PaymentsClient<Channel> {
        PaymentsClient::new(self.payments_channel.clone())
    }

    /// Posts as `creator`; panics on a refusal.
    pub async fn post(&self, creator: User, input: pb::PostInput) -> pb::Post {
        self.media()
            .create_post(self.to_media(creator, input))
            .await
            .unwrap()
            .into_inner()
    }

    /// A creator's feed as `viewer`, every page of `limit`.
    /// The ids of the files `viewer` sees on `creator`'s posts, in feed order.
    pub async fn files_in_feed(&self, viewer: User, creator: User) -> Vec<String> {
        let feed = self.whole_feed(viewer, creator, 5).await;
        feed.iter()
            .flat_map(|post| post.attachments.iter().map(|a| a.media_id.clone()))
            .collect()
    }

    pub async fn whole_feed(&self, viewer: User, creator: User, limit: u32) -> Vec<pb::Post> {
        let mut posts = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self
                .media()
                .creator_feed(self.to_media(
                    viewer,
                    pb::CreatorFeedRequest {
                        creator_id: creator.id.to_string(),
                        cursor: cursor.clone(),
                        limit,
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            assert!(page.posts.len() <= limit as usize);
            posts.extend(page.posts);
            if page.next_cursor.is_empty() {
                return posts;
            }
            cursor = page.next_cursor;
        }
    }
}

/// A post of `visibility` with `body`.
pub fn input(body: &str, visibility: &str) -> pb::PostInput {
    pb::PostInput {
        body: body.into(),
        visibility: visibility.into(),
        ..Default::default()
    }
}

/// The stable code of a refusal.
/// The code of a refusal.
pub fn code_of(status: tonic::Status) -> String {
    Error::from_status(&status).code().to_owned()
}

pub fn code<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) -> String {
    match result {
        Ok(answer) => panic!("expected a refusal, got {answer:?}"),
        Err(status) => Error::from_status(&status).code().to_owned(),
    }
}
