//! Media's configuration: the common sections plus its feeds and its client of payments. Every
//! setting is documented in docs/configuration.md.

use df_common::{
    config::{Validate, check_range},
    grpc::ClientConfig,
};
use df_runtime::{ServiceConfig, ServiceSettings};
use serde::Deserialize;

/// Everything media reads at start-up: the sections every service reads, and its own.
pub type MediaConfig = ServiceConfig<MediaSections>;

/// Media's own sections.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)] // no deny_unknown_fields here: the base sections share the top level
pub struct MediaSections {
    /// Posts and feed pages.
    pub feed: FeedSettings,
    /// Payments, asked who may see what (as media itself).
    pub payments: ClientConfig,
}

impl Validate for MediaSections {
    fn validate(&self, problems: &mut Vec<String>) {
        self.feed.validate(problems);
        let mut own = Vec::new();
        self.payments_client().validate(&mut own);
        problems.extend(own.into_iter().map(|p| format!("payments.{p}")));
    }
}

impl ServiceSettings for MediaSections {
    const SERVICE: &'static str = crate::SERVICE;
    const CALLS_AS_ITSELF: bool = true;
}

impl MediaSections {
    /// The payments client settings, its URL defaulting to payments' port on this machine.
    pub fn payments_client(&self) -> ClientConfig {
        let mut client = self.payments.clone();
        if client.url.is_empty() {
            client.url = format!(
                "http://127.0.0.1:{}",
                df_common::ports::of(df_common::auth::service::PAYMENTS).main
            );
        }
        client
    }
}

/// Posts and feed pages.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedSettings {
    /// Posts on a page when the client does not say.
    pub default_page_size: u32,
    /// Most posts on a page.
    pub max_page_size: u32,
    /// Characters of a locked post's text shown as its preview.
    pub preview_chars: u32,
    /// Most characters of a post's text.
    pub max_body_chars: u32,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            default_page_size: 20,
            max_page_size: 100,
            preview_chars: 140,
            max_body_chars: 5_000,
        }
    }
}

impl Validate for FeedSettings {
    fn validate(&self, problems: &mut Vec<String>) {
        check_range(problems, "feed.max_page_size", self.max_page_size, 1, 500);
        check_range(
            problems,
            "feed.default_page_size",
            self.default_page_size,
            1,
            self.max_page_size.max(1),
        );
        check_range(problems, "feed.preview_chars", self.preview_chars, 0, 1_000);
        check_range(
            problems,
            "feed.max_body_chars",
            self.max_body_chars,
            1,
            100_000,
        );
    }
}

#[cfg(test)]
mod tests {
    use df_common::auth::generate_key_pair;

    use super::*;

    fn problems(config: &MediaConfig) -> Vec<String> {
        let mut problems = Vec::new();
        config.validate(&mut problems);
        problems
    }

    #[test]
    fn media_needs_a_key_of_its_own_that_signs_for_media_only() {
        let mut config = MediaConfig::default();
        let (gateway_seed, gateway_public) = generate_key_pair();
        drop(gateway_seed);
        let auth = &mut config.base.internal_auth;
        auth.verifying_keys.insert("k1".into(), gateway_public);
        let refused = problems(&config);
        assert!(
            refused
                .iter()
                .any(|p| p.starts_with("internal_auth.signing_key:")),
            "{refused:?}"
        );

        let (seed, _) = generate_key_pair();
        let auth = &mut config.base.internal_auth;
        auth.signing_key = Some(seed);
        auth.signing_key_id = "media-1".into();
        let refused = problems(&config);
        assert!(
            refused
                .iter()
                .any(|p| p.starts_with("internal_auth.key_issuers.media-1:")),
            "a key that could speak for anyone: {refused:?}"
        );
        config
            .base
            .internal_auth
            .key_issuers
            .insert("media-1".into(), "payments".into());
        assert!(!problems(&config).is_empty(), "listed as another service's");

        config
            .base
            .internal_auth
            .key_issuers
            .insert("media-1".into(), "media".into());
        assert_eq!(problems(&config), Vec::<String>::new());
    }
}
