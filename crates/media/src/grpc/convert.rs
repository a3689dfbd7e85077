//! Wire forms of media's types.

use df_common::{Error, wire};
use df_proto::media::v1 as pb;

use crate::{
    errors::MediaError,
    posts::{Draft, Price},
    service::{Page, View},
    sight,
    status::Visibility,
};

/// A creator's post input, checked.
pub fn draft(input: pb::PostInput, media: &crate::service::Media) -> Result<Draft, Error> {
    let visibility: Visibility = input
        .visibility
        .parse()
        .map_err(|_| Error::from(MediaError::InvalidVisibility))?;
    let price = input.price.map(|p| Price {
        amount: p.amount,
        currency: p.currency,
    });
    let publish_at = match input.publish_at {
        Some(at) => Some(wire::instant(&at).ok_or(MediaError::InvalidPublishAt)?),
        None => None,
    };
    if input.media_ids.len() > crate::items::MAX_ATTACHMENTS {
        return Err(MediaError::TooManyAttachments.into());
    }
    let files = input
        .media_ids
        .iter()
        .map(|id| wire::id("media_ids", id))
        .collect::<Result<Vec<_>, Error>>()?;
    let mut draft = Draft::new(
        &input.body,
        visibility,
        price,
        input.adult,
        publish_at,
        media.clock.now(),
        media.limits(),
    )?;
    draft.media = files;
    draft.with_min_tier(wire::optional_id("min_tier_id", &input.min_tier_id)?)
}

/// A post as its viewer sees it: a locked one shows its preview.
pub fn post(view: View, preview_chars: usize) -> pb::Post {
    let body = if view.locked {
        sight::preview(&view.post, preview_chars)
    } else {
        view.post.body.clone()
    };
    let post = &view.post;
    pb::Post {
        id: post.id.to_string(),
        creator_id: post.creator_id.to_string(),
        visibility: post.visibility.as_str().into(),
        price: post
            .price_minor
            .zip(post.currency.clone())
            .map(|(amount, currency)| pb::Price { amount, currency }),
        adult: post.adult,
        publish_at: Some(wire::timestamp(post.publish_at)),
        created_at: Some(wire::timestamp(post.created_at)),
        edited_at: post.edited_at.map(wire::timestamp),
        locked: view.locked,
        body,
        ppv_item_id: post
            .ppv_item_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        scheduled: view.scheduled,
        min_tier_id: post
            .min_tier_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        attachments: view
            .attachments
            .iter()
            .map(|item| attachment(item, view.locked))
            .collect(),
    }
}

/// A file of a post: a locked post names none of its files.
fn attachment(item: &crate::items::Item, locked: bool) -> pb::Attachment {
    let (width, height) = item.size_on_wire();
    pb::Attachment {
        media_id: if locked {
            String::new()
        } else {
            item.id.to_string()
        },
        kind: item.kind.as_str().into(),
        width,
        height,
        duration_ms: item.duration_on_wire(),
        thumbnails: item.has_thumbnails(),
    }
}

/// A feed page.
pub fn page(page: Page, preview_chars: usize) -> pb::FeedPage {
    pb::FeedPage {
        posts: page
            .posts
            .into_iter()
            .map(|view| post(view, preview_chars))
            .collect(),
        next_cursor: page.next_cursor.unwrap_or_default(),
    }
}
