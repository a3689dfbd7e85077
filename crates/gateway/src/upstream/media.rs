//! Media (`directfanz.media.v1.Media`): posts, follows and feeds, every call made for the
//! signed-in user, so media decides who may see and change what.

use std::sync::Arc;

use df_common::{Error, auth::TokenSigner, auth::service, grpc::ClientConfig};
use df_proto::media::v1::{self as pb, media_client::MediaClient};
use tonic::transport::Channel;

use super::Upstream;

/// The media client.
#[derive(Clone)]
pub struct Media(pub Upstream<MediaClient<Channel>>);

impl Media {
    /// A client for `config`.
    pub fn new(config: &ClientConfig, signer: Arc<TokenSigner>) -> Result<Self, Error> {
        Upstream::new(service::MEDIA, config, signer, MediaClient::new).map(Self)
    }

    df_common::upstream_calls! {
        /// Publishes or schedules a post.
        user create_post(pb::PostInput) -> pb::Post;
        /// Replaces a post.
        user update_post(pb::UpdatePostRequest) -> pb::Post;
        /// Deletes a post.
        user delete_post(pb::DeletePostRequest) -> pb::DeletePostResponse;
        /// One post as the caller sees it.
        user get_post(pb::GetPostRequest) -> pb::Post;
        /// A creator's posts.
        user creator_feed(pb::CreatorFeedRequest) -> pb::FeedPage;
        /// The caller's home feed.
        user home_feed(pb::HomeFeedRequest) -> pb::FeedPage;
        /// Follows a creator.
        user follow(pb::FollowRequest) -> pb::FollowResponse;
        /// Stops following a creator.
        user unfollow(pb::FollowRequest) -> pb::FollowResponse;
    }
}
