//! One setting, `production = true`, makes start-up refuse what is meant for a laptop. The
//! gateway binary itself is started here and must exit with status 2, naming each setting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;

#[test]
fn the_gateway_refuses_to_start_in_production_with_laptop_settings() {
    let (seed, _) = df_common::auth::generate_key_pair();
    let csrf_key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_df-gateway"))
        .env_clear()
        .envs([
            ("DF_PRODUCTION", "true".to_owned()),
            ("DF_INTERNAL_AUTH__SIGNING_KEY", seed.expose().clone()),
            ("DF_SECURITY__CSRF_KEY", csrf_key.clone()),
            ("DF_SECURITY__SESSION_COOKIE_NAME", "df_session".to_owned()),
            (
                "DF_SECURITY__ALLOWED_ORIGINS",
                r#"["http://app.directfanz.example"]"#.to_owned(),
            ),
            // A deployed payments without TLS; media, not configured, is not deployed and is
            // never reached (its routes answer 503), so it needs none.
            (
                "DF_UPSTREAMS__PAYMENTS__URL",
                "http://payments.directfanz.svc:50052".to_owned(),
            ),
            // A port nothing else uses, should it start after all.
            ("DF_HTTP__LISTEN", "127.0.0.1:1".to_owned()),
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for setting in [
        "identity.tls",
        "payments.tls",
        "security.session_cookie_name",
        "security.allowed_origins",
    ] {
        assert!(stderr.contains(setting), "{setting} not named: {stderr}");
    }
    assert!(!stderr.contains("upstreams.media"), "{stderr}");
    assert!(!stderr.contains(seed.expose()), "no secret in the refusal");
}
