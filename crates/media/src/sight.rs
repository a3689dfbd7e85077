//! Who may see which post: the one rule every read goes through. A post is unlocked for its
//! creator and for staff; public posts for everyone signed in; subscriber posts for fans with a
//! live subscription (to the post's minimum tier or a dearer one, when it names one) and PPV
//! posts for their buyers (both as payments answers). Adult posts are
//! unlocked for no one else until identity records verified adults: the rule fails closed.

use std::collections::HashMap;

use df_common::{
    Error,
    auth::{Principal, Role},
    ids::{CreatorId, UserId},
};
use df_proto::payments::v1 as pb;

use crate::{
    ids::{PpvItemId, TierId},
    payments::Payments,
    posts::Post,
    status::Visibility,
};

/// The signed-in user reading.
#[derive(Clone, Copy, Debug)]
pub struct Viewer {
    pub user: UserId,
    /// Admins and moderators see everything, to review it.
    pub staff: bool,
}

impl Viewer {
    /// The viewer a verified principal names.
    pub fn of(principal: &Principal) -> Result<Self, Error> {
        Ok(Self {
            user: principal.require_user()?,
            staff: principal.has_role(Role::Admin) || principal.has_role(Role::Moderator),
        })
    }
}

/// Answers "may this viewer see this post" for a page of posts, asking payments at most once
/// per creator (and minimum tier) and per PPV item.
pub struct Sight<'a> {
    payments: &'a Payments,
    viewer: Viewer,
    /// Whether subscriber posts of a creator (reserved to a tier, or to none) are open.
    subscribed: HashMap<(CreatorId, Option<TierId>), bool>,
    bought: HashMap<PpvItemId, bool>,
}

impl<'a> Sight<'a> {
    /// The rule for `viewer`.
    pub fn new(payments: &'a Payments, viewer: Viewer) -> Self {
        Self {
            payments,
            viewer,
            subscribed: HashMap::new(),
            bought: HashMap::new(),
        }
    }

    /// Takes what payments already said of the viewer's subscriptions (a home feed asks it
    /// first): of `creators`, those in `subscribed` are subscribed to, the others are not.
    pub fn knowing_subscriptions(
        mut self,
        creators: &[CreatorId],
        subscribed: &std::collections::BTreeSet<CreatorId>,
    ) -> Self {
        self.subscribed.extend(
            creators
                .iter()
                .map(|creator| ((*creator, None), subscribed.contains(creator))),
        );
        self
    }

    /// True when the viewer wrote the post or reviews it.
    pub fn is_creator_or_staff(&self, post: &Post) -> bool {
        post.is_by(self.viewer.user) || self.viewer.staff
    }

    /// True when the viewer may see the whole post.
    pub async fn unlocked(&mut self, post: &Post) -> Result<bool, Error> {
        if post.is_by(self.viewer.user) || self.viewer.staff {
            return Ok(true);
        }
        if post.adult {
            return Ok(false);
        }
        match (post.visibility, post.ppv_item_id) {
            (Visibility::Public, _) => Ok(true),
            (Visibility::Subscribers, _) => {
                let question = (post.creator_id, post.min_tier_id);
                if let Some(known) = self.subscribed.get(&question) {
                    return Ok(*known);
                }
                // Without any subscription to the creator no tier of theirs is open.
                if self.subscribed.get(&(post.creator_id, None)) == Some(&false) {
                    return Ok(false);
                }
                let allowed = self.ask(post.creator_id, None, post.min_tier_id).await?;
                self.subscribed.insert(question, allowed);
                Ok(allowed)
            }
            (Visibility::Ppv, Some(item)) => {
                if let Some(known) = self.bought.get(&item) {
                    return Ok(*known);
                }
                let allowed = self.ask(post.creator_id, Some(item), None).await?;
                self.bought.insert(item, allowed);
                Ok(allowed)
            }
            // A PPV post is stored with its item; without one nobody can have bought it.
            (Visibility::Ppv, None) => Ok(false),
        }
    }

    async fn ask(
        &self,
        creator: CreatorId,
        item: Option<PpvItemId>,
        min_tier: Option<TierId>,
    ) -> Result<bool, Error> {
        let answer = self
            .payments
            .check_entitlement(pb::CheckEntitlementRequest {
                fan_id: self.viewer.user.to_string(),
                creator_id: creator.to_string(),
                ppv_item_id: item.map(|i| i.to_string()).unwrap_or_default(),
                min_tier_id: min_tier.map(|t| t.to_string()).unwrap_or_default(),
            })
            .await?;
        Ok(answer.allowed)
    }
}

/// A locked post's preview: the start of its text (none of an adult post's). See [`teaser`].
pub fn preview(post: &Post, chars: usize) -> String {
    if post.adult {
        String::new()
    } else {
        teaser(&post.body, chars)
    }
}

/// The first `chars` characters of `text`, but never more than half of them, then `…`. A short
/// paid post would otherwise be given away whole as its own preview: whatever the limit, at
/// least half of a locked text stays for those who paid.
fn teaser(text: &str, chars: usize) -> String {
    let shown = chars.min(text.chars().count() / 2);
    let mut teaser: String = text.chars().take(shown).collect();
    if !text.is_empty() {
        teaser.push('…');
    }
    teaser
}

#[cfg(test)]
mod tests {
    use super::teaser;

    #[test]
    fn a_teaser_stops_at_the_limit_and_never_shows_the_whole_text() {
        let long = "A subscriber-only story that runs well past the preview";
        assert_eq!(teaser(long, 10), "A subscrib…");
        assert_eq!(teaser("Short paid note", 140), "Short p…");
        assert_eq!(teaser("ab", 140), "a…");
        assert_eq!(teaser("a", 140), "…");
        assert_eq!(teaser("", 140), "");
        assert_eq!(teaser(long, 0), "…");
        // Characters, not bytes: no character is cut in two.
        assert_eq!(teaser("žluťoučký kůň", 140), "žluťou…");
        for text in [long, "Short paid note", "ab", "a", "žluťoučký kůň"] {
            for chars in [0, 1, 5, 140] {
                let shown = teaser(text, chars);
                let kept = shown.trim_end_matches('…');
                assert!(text.starts_with(kept), "{text:?} {chars}: {shown:?}");
                assert!(
                    kept.chars().count() * 2 <= text.chars().count(),
                    "{shown:?}"
                );
            }
        }
    }
}
