//! The kinds of file the platform accepts.

/// A kind of file the platform accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// JPEG image (JFIF or Exif).
    Jpeg,
    /// PNG image, animated PNG included.
    Png,
    /// GIF image, animated or not.
    Gif,
    /// WebP image: lossy, lossless or extended (animated).
    Webp,
    /// MPEG-4 video (ISO base media file format).
    Mp4,
    /// QuickTime video.
    Mov,
    /// WebM video (the Matroska subset browsers play).
    Webm,
}

/// Whether a kind is a still (or animated) image or a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Read with [`crate::image_dimensions`] and [`crate::image_end`].
    Image,
    /// Read with [`crate::video_info`].
    Video,
}

impl Kind {
    /// Every accepted kind, images first.
    pub const ALL: [Kind; 7] = [
        Kind::Jpeg,
        Kind::Png,
        Kind::Gif,
        Kind::Webp,
        Kind::Mp4,
        Kind::Mov,
        Kind::Webm,
    ];

    /// Whether this kind is an image or a video.
    pub fn family(self) -> Family {
        match self {
            Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp => Family::Image,
            Kind::Mp4 | Kind::Mov | Kind::Webm => Family::Video,
        }
    }

    /// The canonical media type, as the platform serves the file.
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
            Kind::Mp4 => "video/mp4",
            Kind::Mov => "video/quicktime",
            Kind::Webm => "video/webm",
        }
    }

    /// The canonical file extension, without the dot, as the platform stores the file.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
            Kind::Gif => "gif",
            Kind::Webp => "webp",
            Kind::Mp4 => "mp4",
            Kind::Mov => "mov",
            Kind::Webm => "webm",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_the_media_type() {
        for kind in Kind::ALL {
            let expected = match kind.family() {
                Family::Image => "image/",
                Family::Video => "video/",
            };
            assert!(kind.mime().starts_with(expected), "{kind:?}");
        }
    }

    #[test]
    fn extensions_are_lowercase_without_a_dot() {
        for kind in Kind::ALL {
            let ext = kind.extension();
            assert!(!ext.is_empty() && !ext.contains('.'), "{kind:?}");
            assert_eq!(ext, ext.to_ascii_lowercase());
        }
    }
}
