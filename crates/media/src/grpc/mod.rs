//! The gRPC face of media: each method reads the caller from the verified principal, converts
//! the wire types ([`convert`]) and delegates to [`crate::service::Media`]; none holds SQL.

mod convert;
mod feeds;
mod files;
mod posts;
mod resumable;

use df_proto::media::v1::{self as pb, media_server::Media as MediaApi};
use tonic::{Response, Status};

use crate::service::Media;

/// An answer of the face.
type Reply<T> = Result<Response<T>, Status>;

/// Implements `directfanz.media.v1.Media`.
#[derive(Clone)]
pub struct MediaService {
    media: Media,
}

impl MediaService {
    /// The gRPC service over `media`.
    pub fn new(media: Media) -> Self {
        Self { media }
    }

    /// Characters of a locked post's preview.
    fn preview_chars(&self) -> usize {
        self.media.feed.preview_chars as usize
    }
}

df_common::grpc_face! {
    impl MediaApi for MediaService with pb {
        create_post(PostInput) -> Post => posts;
        update_post(UpdatePostRequest) -> Post => posts;
        delete_post(DeletePostRequest) -> DeletePostResponse => posts;
        get_post(GetPostRequest) -> Post => posts;
        creator_feed(CreatorFeedRequest) -> FeedPage => feeds;
        home_feed(HomeFeedRequest) -> FeedPage => feeds;
        follow(FollowRequest) -> FollowResponse => feeds;
        unfollow(FollowRequest) -> FollowResponse => feeds;
        get_media(GetMediaRequest) -> MediaItem => files;
        media_url(MediaUrlRequest) -> MediaUrlResponse => files;
        create_upload(CreateUploadRequest) -> UploadSession => resumable;
        get_upload(GetUploadRequest) -> UploadSession => resumable;
        cancel_upload(GetUploadRequest) -> CancelUploadResponse => resumable;
    }
    uploads {
        upload(stream UploadPart) -> MediaItem => files;
        append_upload(stream AppendPart) -> UploadSession => resumable;
    }
    downloads {
        read_content(ReadContentRequest) -> stream ContentPart as ReadContentStream => files;
    }
}
