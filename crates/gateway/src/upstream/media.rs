//! Media (`directfanz.media.v1.Media`): posts, follows and feeds, every call made for the
//! signed-in user, so media decides who may see and change what.

use std::sync::Arc;

use df_common::{Error, auth::TokenSigner, auth::service, grpc::ClientConfig};
use df_proto::media::v1::{self as pb, media_client::MediaClient};
use tonic::transport::Channel;

use super::Upstream;

/// The media client: one channel for calls, and one for uploads, whose bytes may flow for
/// far longer than any call's deadline.
#[derive(Clone)]
pub struct Media(
    pub Upstream<MediaClient<Channel>>,
    Upstream<MediaClient<Channel>>,
);

/// How long one upload may take, start to end (2047 MiB, media's largest
/// video, at about 600 KB/s).
const UPLOAD_DEADLINE_MS: u64 = 60 * 60 * 1000;

impl Media {
    /// A client for `config`.
    pub fn new(config: &ClientConfig, signer: Arc<TokenSigner>) -> Result<Self, Error> {
        let mut uploads = config.clone();
        uploads.request_timeout_ms = UPLOAD_DEADLINE_MS;
        Ok(Self(
            Upstream::new(
                service::MEDIA,
                config,
                Arc::clone(&signer),
                MediaClient::new,
            )?,
            Upstream::new(service::MEDIA, &uploads, signer, MediaClient::new)?,
        ))
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
        /// A file's state, for its creator.
        user get_media(pb::GetMediaRequest) -> pb::MediaItem;
        /// A signed URL of a file.
        user media_url(pb::MediaUrlRequest) -> pb::MediaUrlResponse;
        /// Opens a resumable upload.
        user create_upload(pb::CreateUploadRequest) -> pb::UploadSession;
        /// Where a resumable upload stands.
        user get_upload(pb::GetUploadRequest) -> pb::UploadSession;
        /// Abandons a resumable upload.
        user cancel_upload(pb::GetUploadRequest) -> pb::CancelUploadResponse;
        /// The bytes a signed URL names, as the gateway itself: the signature is the authority.
        itself read_content(pb::ReadContentRequest) -> tonic::Streaming<pb::ContentPart>;
    }

    /// Uploads a file as `caller`: `parts` is the start, then the bytes.
    pub async fn upload(
        &self,
        caller: df_common::grpc::upstream::Caller,
        parts: impl futures::Stream<Item = pb::UploadPart> + Send + 'static,
    ) -> Result<pb::MediaItem, Error> {
        let on_behalf = df_common::grpc::upstream::OnBehalfOf::User(caller);
        self.1
            .call(on_behalf, parts, |mut client, request| async move {
                client.upload(request).await
            })
            .await
    }

    /// Appends to a resumable upload as `caller`: `parts` is the start, then the bytes.
    pub async fn append_upload(
        &self,
        caller: df_common::grpc::upstream::Caller,
        parts: impl futures::Stream<Item = pb::AppendPart> + Send + 'static,
    ) -> Result<pb::UploadSession, Error> {
        let on_behalf = df_common::grpc::upstream::OnBehalfOf::User(caller);
        self.1
            .call(on_behalf, parts, |mut client, request| async move {
                client.append_upload(request).await
            })
            .await
    }
}
