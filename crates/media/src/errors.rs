//! Every error media answers, with its code, kind and message (the gateway passes the code and
//! message to clients).

df_common::error_catalogue! {
    /// Media's errors.
    pub enum MediaError {
        /// The post's text is longer than allowed.
        BodyTooLong = (InvalidInput, "media.body_too_long", "The post's text is too long."),
        /// A post needs text.
        EmptyPost = (InvalidInput, "media.empty_post", "A post needs text."),
        /// The feed cursor is not one this service handed out.
        InvalidCursor = (InvalidInput, "media.invalid_cursor", "The cursor is not valid; start again from the first page."),
        /// A page size outside the allowed range.
        InvalidLimit = (InvalidInput, "media.invalid_limit", "limit is outside the allowed range."),
        /// A visibility other than public, subscribers or ppv.
        InvalidVisibility = (InvalidInput, "media.invalid_visibility", "visibility must be public, subscribers or ppv."),
        /// A price on a post that is not pay-per-view, or none on one that is.
        PriceMismatch = (InvalidInput, "media.price_mismatch", "A pay-per-view post needs a price, and only a pay-per-view post has one."),
        /// A minimum tier on a post that is not for subscribers.
        MinTierMismatch = (InvalidInput, "media.min_tier_mismatch", "Only a subscribers' post may name a minimum tier."),
        /// A minimum tier that is not one of the creator's tiers on offer.
        UnknownTier = (InvalidInput, "media.unknown_tier", "min_tier_id must be one of your tiers on offer."),
        /// Fans have bought the post at its price: it stays pay-per-view at that price.
        PpvFixed = (Conflict, "media.ppv_fixed", "A pay-per-view post keeps its visibility and price once offered."),
        /// The publishing time is too far away.
        InvalidPublishAt = (InvalidInput, "media.invalid_publish_at", "publish_at must lie within a year from now."),
        /// Following oneself.
        FollowSelf = (InvalidInput, "media.follow_self", "You cannot follow yourself."),
        /// No such post (or not one the caller may know of).
        PostNotFound = (NotFound, "media.post_not_found", "No such post."),
        /// An event from another service that cannot be applied as sent.
        MalformedEvent = (InvalidInput, "media.malformed_event", "Malformed event."),
        /// The upload is not as long as the client announced.
        Incomplete = (InvalidInput, "media.incomplete", "The upload is not as long as announced."),
        /// An upload with no bytes.
        Empty = (InvalidInput, "media.empty", "The file is empty."),
        /// The bytes are of a type the platform does not take (archives, SVG, HTML, programs...).
        UnsupportedType = (Unprocessable, "media.unsupported_type", "Only JPEG, PNG, GIF and WebP images and MP4, MOV and WebM videos are accepted."),
        /// The declared Content-Type or the file name's extension names another type than the bytes.
        TypeMismatch = (Unprocessable, "media.type_mismatch", "The file's name or declared type does not match its content."),
        /// Larger than allowed for its kind.
        TooLarge = (PayloadTooLarge, "media.too_large", "The file is larger than allowed for its kind."),
        /// An image with more pixels than allowed.
        PixelLimit = (Unprocessable, "media.pixel_limit", "The image has more pixels than allowed."),
        /// Broken or truncated.
        Corrupt = (Unprocessable, "media.corrupt", "The file is damaged or incomplete."),
        /// Something follows the image's own end (a file hidden behind it).
        AppendedData = (Unprocessable, "media.appended_data", "The file carries data after the end of the image."),
        /// The first part of an upload must say what is uploaded.
        UploadStartMissing = (InvalidInput, "media.upload_start_missing", "An upload starts with its file name and type."),
        /// The creator has as many uploads in flight as allowed.
        TooManyUploads = (RateLimited, "media.too_many_uploads", "Too many uploads at once; wait for one to finish."),
        /// No such open resumable upload (finished, cancelled, expired or another creator's).
        UploadNotFound = (NotFound, "media.upload_not_found", "No such upload; it may have expired."),
        /// An append that does not start where the resumable upload stands.
        OffsetMismatch = (Conflict, "media.upload_offset_mismatch", "The upload stands at another offset; ask where, then append from there."),
        /// No such file (or not one the caller may know of).
        MediaNotFound = (NotFound, "media.media_not_found", "No such file."),
        /// The file is not published (yet).
        MediaNotReady = (Conflict, "media.not_ready", "The file is not available yet."),
        /// The caller may not see the file's post.
        NotEntitled = (Forbidden, "media.not_entitled", "Subscribe to the creator or buy the post to see this."),
        /// Adult content, and the caller is not a verified adult.
        AdultOnly = (Forbidden, "media.adult_only", "This content is for verified adults only."),
        /// A signed URL that is expired, tampered with or signed by an unknown key.
        InvalidSignature = (Forbidden, "media.invalid_signature", "The link is invalid or has expired."),
        /// A variant other than display, thumb_small or thumb_large (or one this file lacks).
        InvalidVariant = (InvalidInput, "media.invalid_variant", "variant must be display, thumb_small or thumb_large."),
        /// A byte range that starts past the end.
        RangeNotSatisfiable = (InvalidInput, "media.range_not_satisfiable", "The range starts past the end of the file."),
        /// An attachment that is not the creator's, is attached elsewhere or is unusable.
        InvalidAttachment = (InvalidInput, "media.invalid_attachment", "Attach only your own files that are not attached to another post."),
        /// Too many attachments on one post.
        TooManyAttachments = (InvalidInput, "media.too_many_attachments", "A post has at most 20 files."),
    }
}
