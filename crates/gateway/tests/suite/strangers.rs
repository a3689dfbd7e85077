//! Every route that names something in its path, asked by people it does not belong to: another
//! creator, a fan who paid nothing, a fan with a role they lack. The gateway's route table is
//! the list: a route with a path parameter that no attempt here reaches fails the test, so a
//! new route comes with its stranger case.
//!
//! Three answers are right, each for its own kind of route:
//! - what is private (an upload, a tier to edit, a subscription, a file's state, a scheduled
//!   post) answers a stranger exactly as an id that never existed does, so ids cannot be probed;
//! - what the platform shows to everyone (a published post, a creator's tiers) answers as to
//!   anyone, locked where it must be, and a change to it is refused;
//! - what speaks of the caller (an entitlement, a follow) answers about the caller only.
//!
//! Afterwards the owner's things are as they were, and the subscriber still has what they paid
//! for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use df_devstack::platform::Platform;
use df_gateway::routes::ROUTES;
use df_media::testing::TestMedia;
use df_payments::testing::TestPayments;
use reqwest::{Method, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    checkout_urls, eventually_some, onboard, pay, published_photo, subscription_checkout, tier,
};

/// What the owner wrote in the posts this test makes.
const PUBLIC_TEXT: &str = "Studio tour, open to everyone.";
const SUBSCRIBERS_TEXT: &str = "The full set list and the rehearsal notes for subscribers.";
const SCHEDULED_TEXT: &str = "Announcement going out next month.";

/// One request of an attempt: method, route template, the values of its path parameters in
/// order, a query, the caller's token, extra headers and a body.
#[derive(Clone)]
struct Ask {
    method: Method,
    template: &'static str,
    params: Vec<String>,
    query: Option<String>,
    token: Option<String>,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
}

impl Ask {
    fn new(method: Method, template: &'static str, params: &[&str], token: &str) -> Self {
        Self {
            method,
            template,
            params: params.iter().map(|p| (*p).to_owned()).collect(),
            query: None,
            token: Some(token.to_owned()),
            headers: Vec::new(),
            body: None,
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn json(self, body: Value) -> Self {
        self.header("Content-Type", "application/json")
            .bytes(body.to_string().into_bytes())
    }

    fn bytes(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    fn query(mut self, query: &str) -> Self {
        self.query = Some(query.to_owned());
        self
    }

    /// Without a session.
    fn anonymous(mut self) -> Self {
        self.token = None;
        self
    }

    /// The template with its `{…}` parameters filled in, in order.
    fn path(&self) -> String {
        let mut path = String::new();
        let mut values = self.params.iter();
        let mut rest = self.template;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').unwrap() + open;
            path.push_str(&rest[..open]);
            path.push_str(values.next().expect("a value for every path parameter"));
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        assert!(values.next().is_none(), "more values than parameters");
        if let Some(query) = &self.query {
            path.push('?');
            path.push_str(query);
        }
        path
    }
}

/// A stranger's attempt on one of the owner's things: what it is, the thing's id, and the
/// request about a given id.
type Attempt<'a> = (&'static str, &'a str, Box<dyn Fn(&str) -> Ask + 'a>);

/// Sends requests and remembers which route templates were reached.
struct Prober<'a> {
    platform: &'a Platform,
    reached: BTreeSet<(String, &'static str)>,
}

impl Prober<'_> {
    /// The status and the answer without its request id (`Null` if the answer is not JSON).
    async fn send(&mut self, ask: &Ask) -> (u16, Value) {
        self.reached.insert((ask.method.to_string(), ask.template));
        let mut request = self
            .platform
            .http()
            .request(ask.method.clone(), self.platform.url(&ask.path()));
        if let Some(token) = &ask.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in &ask.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = &ask.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let mut answer: Value = response.json().await.unwrap_or(Value::Null);
        if let Some(problem) = answer.as_object_mut() {
            problem.remove("request_id");
        }
        (status, answer)
    }

    /// Asserts that the request `ask` makes about the owner's `id` answers exactly as the same
    /// request about an id that never existed, and that the answer is a refusal.
    async fn as_if_absent(&mut self, what: &str, id: &str, ask: impl Fn(&str) -> Ask) {
        let got = self.send(&ask(id)).await;
        let absent = self.send(&ask(&Uuid::now_v7().to_string())).await;
        assert!((400..500).contains(&got.0), "{what}: answered {got:?}");
        assert_eq!(got, absent, "{what}: a stranger can tell it exists");
    }

    /// Asserts that `ask` is refused with `status` and `code`.
    async fn refused(&mut self, what: &str, ask: Ask, status: u16, code: &str) {
        let (got, problem) = self.send(&ask).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{what}: {problem}"
        );
    }

    /// Asserts that `ask` succeeds; its answer.
    async fn answered(&mut self, what: &str, ask: Ask) -> Value {
        let (status, answer) = self.send(&ask).await;
        assert!((200..300).contains(&status), "{what}: {status} {answer}");
        answer
    }
}

/// Publishes a post of `creator`; its id.
async fn post(platform: &Platform, creator: &str, body: Value) -> String {
    let (status, post) = platform
        .send_json(Method::POST, "/v1/creator/posts", creator, Some(body))
        .await;
    assert_eq!(status, 201, "{post}");
    post["id"].as_str().unwrap().to_owned()
}

/// Opens a tus upload of `creator`; its id.
async fn open_upload(platform: &Platform, creator: &str) -> String {
    use base64::Engine;
    let encode = |value: &str| base64::engine::general_purpose::STANDARD.encode(value);
    let response = platform
        .http()
        .post(platform.url("/v1/creator/uploads"))
        .bearer_auth(creator)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "4096")
        .header(
            "Upload-Metadata",
            format!(
                "filename {},filetype {}",
                encode("rehearsal.mp4"),
                encode("video/mp4")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    location.rsplit('/').next().unwrap().to_owned()
}

/// The ids of a page of posts.
fn ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|post| post["id"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_tells_or_gives_a_stranger_what_is_not_theirs() {
    let platform = Platform::builder()
        .with::<TestPayments>()
        .with::<TestMedia>()
        .start()
        .await;
    let (owner, owner_id) = platform.signed_in("strangers_owner", "creator").await;
    let (rival, _) = platform.signed_in("strangers_rival", "creator").await;
    let (subscriber, _) = platform.signed_in("strangers_subscriber", "fan").await;
    let (fan, _) = platform.signed_in("strangers_fan", "fan").await;
    onboard(&platform, &owner).await;

    // The owner's things: a tier with a paying subscriber who follows them, a file on a
    // subscribers' post and one on no post, a public and a scheduled post, an open upload.
    let gold = tier(&platform, &owner, "Gold", 999).await;
    let gold_id = gold["id"].as_str().unwrap().to_owned();
    let checkout = subscription_checkout(&platform, &subscriber, &gold["id"]).await;
    pay(&platform, &checkout, &checkout_urls().0).await;
    let entitlement = format!("/v1/creators/{owner_id}/entitlement");
    eventually_some("the subscription is active", || async {
        let (_, answer) = platform.get_json(&entitlement, &subscriber).await;
        (answer["allowed"] == true).then_some(())
    })
    .await;
    let (_, mine) = platform.get_json("/v1/me/subscriptions", &subscriber).await;
    let subscription_id = mine["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = platform
        .send_json(
            Method::PUT,
            &format!("/v1/creators/{owner_id}/follow"),
            &subscriber,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let attached = published_photo(&platform, &owner).await;
    let loose = published_photo(&platform, &owner).await;
    let public = post(
        &platform,
        &owner,
        json!({"body": PUBLIC_TEXT, "visibility": "public"}),
    )
    .await;
    let for_subscribers = post(
        &platform,
        &owner,
        json!({"body": SUBSCRIBERS_TEXT, "visibility": "subscribers", "media_ids": [attached]}),
    )
    .await;
    let next_month = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let scheduled = post(
        &platform,
        &owner,
        json!({"body": SCHEDULED_TEXT, "visibility": "public", "publish_at": next_month}),
    )
    .await;
    let upload = open_upload(&platform, &owner).await;
    let (status, signed) = platform
        .get_json(&format!("/v1/media/{attached}/url"), &owner)
        .await;
    assert_eq!(status, 200, "{signed}");
    let signed_query = signed["url"]
        .as_str()
        .unwrap()
        .split_once('?')
        .unwrap()
        .1
        .to_owned();

    let mut probe = Prober {
        platform: &platform,
        reached: BTreeSet::new(),
    };

    // Private: answered to strangers exactly as if it did not exist.
    for (who, token) in [("another creator", &rival), ("a fan", &fan)] {
        let tus = |method: Method, id: &str| {
            Ask::new(method, "/v1/creator/uploads/{id}", &[id], token)
                .header("Tus-Resumable", "1.0.0")
        };
        let attempts: Vec<Attempt> = vec![
            (
                "edits the owner's tier",
                &gold_id,
                Box::new(|id| {
                    Ask::new(Method::PATCH, "/v1/creator/tiers/{id}", &[id], token).json(
                        json!({"name": "Free", "price": {"amount_minor": 100, "currency": "usd"}}),
                    )
                }),
            ),
            (
                "archives the owner's tier",
                &gold_id,
                Box::new(|id| Ask::new(Method::DELETE, "/v1/creator/tiers/{id}", &[id], token)),
            ),
            (
                "asks where the owner's upload stands",
                &upload,
                Box::new(|id| tus(Method::HEAD, id)),
            ),
            (
                "appends to the owner's upload",
                &upload,
                Box::new(|id| {
                    tus(Method::PATCH, id)
                        .header("Upload-Offset", "0")
                        .header("Content-Type", "application/offset+octet-stream")
                        .bytes(vec![7; 512])
                }),
            ),
            (
                "cancels the owner's upload through the override",
                &upload,
                Box::new(|id| tus(Method::POST, id).header("X-HTTP-Method-Override", "DELETE")),
            ),
            (
                "cancels the owner's upload",
                &upload,
                Box::new(|id| tus(Method::DELETE, id)),
            ),
            (
                "cancels the subscriber's subscription",
                &subscription_id,
                Box::new(|id| {
                    Ask::new(Method::POST, "/v1/subscriptions/{id}/cancel", &[id], token)
                }),
            ),
            (
                "reads the state of a file on a post",
                &attached,
                Box::new(|id| Ask::new(Method::GET, "/v1/media/{id}", &[id], token)),
            ),
            (
                "asks for a URL of a file on no post",
                &loose,
                Box::new(|id| Ask::new(Method::GET, "/v1/media/{id}/url", &[id], token)),
            ),
            (
                "reads a scheduled post",
                &scheduled,
                Box::new(|id| Ask::new(Method::GET, "/v1/posts/{id}", &[id], token)),
            ),
            (
                "deletes a scheduled post",
                &scheduled,
                Box::new(|id| Ask::new(Method::DELETE, "/v1/posts/{id}", &[id], token)),
            ),
        ];
        for (what, id, ask) in attempts {
            probe.as_if_absent(&format!("{who} {what}"), id, ask).await;
        }
    }
    let edit = json!({"body": "Hijacked", "visibility": "public"});
    probe
        .as_if_absent("another creator edits a scheduled post", &scheduled, |id| {
            Ask::new(Method::PUT, "/v1/creator/posts/{id}", &[id], &rival).json(edit.clone())
        })
        .await;
    // What a body names is checked as closely as a path: another creator's file cannot be
    // attached, nor their tier required, to reach what it unlocks.
    probe
        .as_if_absent("another creator attaches the owner's file", &loose, |id| {
            Ask::new(Method::POST, "/v1/creator/posts", &[], &rival)
                .json(json!({"body": "Mine now", "visibility": "public", "media_ids": [id]}))
        })
        .await;
    probe
        .as_if_absent(
            "another creator requires the owner's tier",
            &gold_id,
            |id| {
                Ask::new(Method::POST, "/v1/creator/posts", &[], &rival).json(
                    json!({"body": "Mine now", "visibility": "subscribers", "min_tier_id": id}),
                )
            },
        )
        .await;
    // A URL signed for one file opens neither another file nor one that never existed.
    probe
        .as_if_absent("a signed URL pointed at another file", &loose, |id| {
            Ask::new(Method::GET, "/v1/media/{id}/content", &[id], "")
                .anonymous()
                .query(&signed_query)
        })
        .await;

    // Shown to everyone: locked where it must be, and not for strangers to change.
    let (status, _) = platform
        .get_json(&format!("/v1/posts/{public}"), &fan)
        .await;
    assert_eq!(status, 200);
    let locked = probe
        .answered(
            "a fan reads a subscribers' post",
            Ask::new(Method::GET, "/v1/posts/{id}", &[&for_subscribers], &fan),
        )
        .await;
    assert_eq!(locked["locked"], true, "{locked}");
    assert_ne!(locked["body"], SUBSCRIBERS_TEXT, "{locked}");
    probe
        .refused(
            "a fan asks for a URL of a subscribers' file",
            Ask::new(Method::GET, "/v1/media/{id}/url", &[&attached], &fan),
            403,
            "media.not_entitled",
        )
        .await;
    probe
        .refused(
            "another creator edits the owner's public post",
            Ask::new(Method::PUT, "/v1/creator/posts/{id}", &[&public], &rival)
                .json(json!({"body": "Hijacked", "visibility": "public"})),
            403,
            "common.forbidden",
        )
        .await;
    for (who, token) in [("another creator", &rival), ("a fan", &fan)] {
        probe
            .refused(
                &format!("{who} deletes the owner's public post"),
                Ask::new(Method::DELETE, "/v1/posts/{id}", &[&public], token),
                403,
                "common.forbidden",
            )
            .await;
    }
    let listed = probe
        .answered(
            "a fan lists the owner's posts",
            Ask::new(
                Method::GET,
                "/v1/creators/{creator_id}/posts",
                &[&owner_id],
                &fan,
            ),
        )
        .await;
    assert_eq!(
        ids(&listed),
        [for_subscribers.as_str(), public.as_str()],
        "the scheduled post is the owner's alone: {listed}"
    );
    let tiers = probe
        .answered(
            "a fan lists the owner's tiers",
            Ask::new(
                Method::GET,
                "/v1/creators/{creator_id}/tiers",
                &[&owner_id],
                &fan,
            ),
        )
        .await;
    assert_eq!(tiers["items"][0]["id"], gold_id.as_str(), "{tiers}");
    // Buying a pay-per-view item is open to any fan; only the owner's own purchase is refused
    // (their purchase route is reached in `payments_routes`), so a stranger's is the feature.
    let item = crate::support::ppv_post(&platform, &owner, 1_500).await;
    let (success_url, cancel_url) = checkout_urls();
    probe
        .answered(
            "a fan opens a checkout for the owner's pay-per-view item",
            Ask::new(Method::POST, "/v1/ppv-items/{id}/purchase", &[&item], &fan)
                .json(json!({"success_url": success_url, "cancel_url": cancel_url})),
        )
        .await;

    // About the caller only, whatever creator the path names.
    let theirs = probe
        .answered(
            "a fan asks for their entitlement to the owner's content",
            Ask::new(
                Method::GET,
                "/v1/creators/{creator_id}/entitlement",
                &[&owner_id],
                &fan,
            ),
        )
        .await;
    assert_eq!(theirs["allowed"], false, "{theirs}");
    for method in [Method::PUT, Method::DELETE] {
        probe
            .answered(
                &format!("a fan: {method} of their follow of the owner"),
                Ask::new(
                    method,
                    "/v1/creators/{creator_id}/follow",
                    &[&owner_id],
                    &fan,
                ),
            )
            .await;
    }
    let year = chrono::Datelike::year(&chrono::Utc::now()).to_string();
    probe
        .refused(
            "a fan asks for a creator's tax form",
            Ask::new(Method::GET, "/v1/creator/tax-forms/{year}", &[&year], &fan)
                .query("format=csv"),
            403,
            "common.forbidden",
        )
        .await;
    // Staff only: another creator is refused the owner's tax form.
    probe
        .refused(
            "another creator asks for the owner's tax form",
            Ask::new(
                Method::GET,
                "/v1/admin/creators/{creator_id}/tax-forms/{year}",
                &[&owner_id, &year],
                &rival,
            )
            .query("format=csv"),
            403,
            "common.forbidden",
        )
        .await;

    // Every route that names something in its path was asked.
    let reached: BTreeSet<(String, &str)> = probe.reached;
    let naming: BTreeSet<(String, &str)> = ROUTES
        .iter()
        .filter(|(_, path)| path.contains('{'))
        .map(|(method, path)| ((*method).to_owned(), *path))
        .collect();
    let missed: Vec<_> = naming.difference(&reached).collect();
    assert!(missed.is_empty(), "routes no stranger asked: {missed:?}");

    // The owner's things are as they were.
    let (_, tiers) = platform
        .get_json(&format!("/v1/creators/{owner_id}/tiers"), &owner)
        .await;
    assert_eq!(
        (
            &tiers["items"][0]["name"],
            &tiers["items"][0]["price"]["amount_minor"]
        ),
        (&json!("Gold"), &json!(999)),
        "{tiers}"
    );
    for (id, text) in [
        (&public, PUBLIC_TEXT),
        (&for_subscribers, SUBSCRIBERS_TEXT),
        (&scheduled, SCHEDULED_TEXT),
    ] {
        let (status, post) = platform.get_json(&format!("/v1/posts/{id}"), &owner).await;
        assert_eq!((status, post["body"].as_str()), (200, Some(text)), "{post}");
    }
    for file in [&attached, &loose] {
        let (_, state) = platform
            .get_json(&format!("/v1/media/{file}"), &owner)
            .await;
        assert_eq!(state["state"], "published", "{state}");
    }
    let standing = platform
        .http()
        .head(platform.url(&format!("/v1/creator/uploads/{upload}")))
        .bearer_auth(&owner)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(standing.status(), 200);
    assert_eq!(standing.headers()["upload-offset"], "0");

    // The subscriber still has what they paid for: an active subscription that reads the
    // subscribers' post whole, and the owner's posts in their home feed.
    let (_, mine) = platform.get_json("/v1/me/subscriptions", &subscriber).await;
    assert_eq!(
        (
            &mine["items"][0]["status"],
            &mine["items"][0]["cancel_at_period_end"]
        ),
        (&json!("active"), &json!(false)),
        "{mine}"
    );
    let (_, whole) = platform
        .get_json(&format!("/v1/posts/{for_subscribers}"), &subscriber)
        .await;
    assert_eq!(whole["body"], SUBSCRIBERS_TEXT, "{whole}");
    let (_, feed) = platform.get_json("/v1/me/feed", &subscriber).await;
    assert!(ids(&feed).contains(&public.as_str()), "{feed}");

    platform.stop().await;
}
