//! Identity's gRPC listener with TLS required: a plaintext client gets nothing, a client that
//! trusts the service's CA is served, one that trusts another CA is not; with a client CA set,
//! only clients presenting a certificate from it are served (mutual TLS).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error as _;

use df_common::{
    auth::{Role, Subject, service},
    grpc::{ClientConfig, channel, request_with_principal, tls::ClientTls, tls::ServerTls},
};
use df_proto::identity::v1::{self as pb, identity_client::IdentityClient};
use df_testkit::TestCa;
use tonic::Code;

use crate::support::{Running, start_with};

/// One call as the gateway over `client_config`; `Ok` when identity answered it.
async fn call(running: &Running, client_config: &ClientConfig) -> Result<(), tonic::Status> {
    let token = running
        .signer
        .mint(
            Subject::Service {
                name: service::GATEWAY.into(),
            },
            vec![Role::Service],
            service::IDENTITY,
        )
        .unwrap();
    let request = request_with_principal(
        pb::RequestPasswordResetRequest {
            email: "nobody@example.com".into(),
        },
        &token,
    )
    .unwrap();
    IdentityClient::new(channel(client_config).unwrap())
        .request_password_reset(request)
        .await
        .map(|_| ())
}

fn client(running: &Running, tls: Option<ClientTls>) -> ClientConfig {
    let scheme = if tls.is_some() { "https" } else { "http" };
    ClientConfig {
        url: format!("{scheme}://localhost:{}", running.addr.port()),
        tls,
        connect_timeout_ms: 5_000,
        ..ClientConfig::default()
    }
}

/// Waits until identity answers a trusted client (it binds asynchronously).
async fn until_served(running: &Running, trusted: &ClientConfig) {
    df_testkit::eventually("identity serves a trusted client", async || {
        match call(running, trusted).await {
            Ok(()) => true,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                false
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_client_is_refused_when_tls_is_required() {
    let mut ca = TestCa::new();
    let server = ca.server(&["localhost"]);
    let running = start_with(|config| {
        config.base.grpc.tls = Some(ServerTls {
            cert_file: server.cert_file.clone(),
            key_file: server.key_file.clone(),
            client_ca_file: None,
        });
    })
    .await;
    let trusted = client(
        &running,
        Some(ClientTls {
            ca_file: Some(ca.ca_file.clone()),
            ..ClientTls::default()
        }),
    );
    until_served(&running, &trusted).await;

    // The connection fails (the TLS listener reads the plaintext HTTP/2 preface as garbage);
    // the call never reaches the service.
    let plaintext = call(&running, &client(&running, None)).await.unwrap_err();
    assert!(
        plaintext
            .source()
            .is_some_and(|cause| cause.is::<tonic::transport::Error>()),
        "{plaintext:?}"
    );
    let other_ca = TestCa::new();
    let untrusting = client(
        &running,
        Some(ClientTls {
            ca_file: Some(other_ca.ca_file.clone()),
            ..ClientTls::default()
        }),
    );
    let untrusted = call(&running, &untrusting).await.unwrap_err();
    assert_eq!(untrusted.code(), Code::Unavailable, "{untrusted:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_client_ca_only_clients_with_its_certificates_are_served() {
    let mut ca = TestCa::new();
    let server = ca.server(&["localhost"]);
    let gateway = ca.client("gateway");
    let running = start_with(|config| {
        config.base.grpc.tls = Some(ServerTls {
            cert_file: server.cert_file.clone(),
            key_file: server.key_file.clone(),
            client_ca_file: Some(ca.ca_file.clone()),
        });
    })
    .await;
    let with_certificate = client(
        &running,
        Some(ClientTls {
            ca_file: Some(ca.ca_file.clone()),
            cert_file: Some(gateway.cert_file.clone()),
            key_file: Some(gateway.key_file.clone()),
            ..ClientTls::default()
        }),
    );
    until_served(&running, &with_certificate).await;
    let without = client(
        &running,
        Some(ClientTls {
            ca_file: Some(ca.ca_file.clone()),
            ..ClientTls::default()
        }),
    );
    assert!(call(&running, &without).await.is_err());
    running.stop().await;
}
