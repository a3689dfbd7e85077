//! The states media's records take, as stored (each column has a matching `CHECK`).

df_common::text_enum! {
    /// Who may see a post.
    sql pub enum Visibility {
        /// Everyone signed in.
        Public = "public",
        /// Fans with a live subscription to the creator.
        Subscribers = "subscribers",
        /// Fans who bought the post.
        Ppv = "ppv",
    }
}

df_common::text_enum! {
    /// Where an uploaded file is on its way to being served.
    sql pub enum MediaState {
        /// Stored under `incoming/`, waiting for the malware scan.
        Scanning = "scanning",
        /// The scanner could not be reached; the scan is retried with back-off.
        ScanPending = "scan_pending",
        /// Clean; waiting for moderation's decision.
        ModerationPending = "moderation_pending",
        /// Served to whoever may see its post.
        Published = "published",
        /// Moderation restricted it: served to no one but its creator.
        Restricted = "restricted",
        /// The scanner found malware: kept under `quarantine/` for the legal hold, never served.
        Quarantined = "quarantined",
        /// Moderation removed it: its objects are gone.
        Removed = "removed",
    }
}

df_common::text_enum! {
    /// The file formats media accepts (see `df_filetype::Kind`).
    sql pub enum MediaKind {
        /// JPEG image.
        Jpeg = "jpeg",
        /// PNG image.
        Png = "png",
        /// GIF image (first frame kept).
        Gif = "gif",
        /// WebP image.
        Webp = "webp",
        /// MP4 video.
        Mp4 = "mp4",
        /// QuickTime video.
        Mov = "mov",
        /// WebM video.
        Webm = "webm",
    }
}

impl From<df_filetype::Kind> for MediaKind {
    fn from(kind: df_filetype::Kind) -> Self {
        use df_filetype::Kind;
        match kind {
            Kind::Jpeg => Self::Jpeg,
            Kind::Png => Self::Png,
            Kind::Gif => Self::Gif,
            Kind::Webp => Self::Webp,
            Kind::Mp4 => Self::Mp4,
            Kind::Mov => Self::Mov,
            Kind::Webm => Self::Webm,
        }
    }
}

impl MediaKind {
    /// True for still images (they get thumbnails and are re-encoded).
    pub fn is_image(self) -> bool {
        matches!(self, Self::Jpeg | Self::Png | Self::Gif | Self::Webp)
    }
}
