//! The client's declared Content-Type and file name, checked against the kind the bytes show.
//! Other systems (browsers, download managers, virus scanners) trust those labels, so a label
//! that disagrees with the bytes is refused rather than corrected silently.

use std::fmt;

use crate::Kind;

/// How many characters of a declared value a [`Disagreement`] keeps; they end up in messages.
const MAX_DECLARED_CHARS: usize = 64;

/// How the client's declared type or file name disagrees with the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disagreement {
    /// The Content-Type names another type (or none).
    ContentType {
        /// The declared value, at most 64 characters, control characters replaced.
        declared: String,
    },
    /// The file name's extension belongs to another type.
    Extension {
        /// The declared extension, at most 64 characters, control characters replaced.
        declared: String,
    },
    /// The file name has no extension.
    MissingExtension,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disagreement::ContentType { declared } => {
                write!(
                    f,
                    "the declared type \"{declared}\" does not match the file's contents"
                )
            }
            Disagreement::Extension { declared } => write!(
                f,
                "the file extension \"{declared}\" does not match the file's contents"
            ),
            Disagreement::MissingExtension => f.write_str("the file name has no extension"),
        }
    }
}

impl std::error::Error for Disagreement {}

/// Checks that the client's Content-Type and file name agree with the kind the bytes show.
///
/// The Content-Type is compared without its parameters (`; charset=...`) and ignoring ASCII
/// case; `application/octet-stream` does not agree with anything, since the client must say what
/// it sends. The extension is what follows the last dot of the name's final path component
/// (after `/` or `\`), compared ignoring ASCII case, so `photo.jpg.exe` has the extension `exe`.
pub fn check_declared(kind: Kind, content_type: &str, file_name: &str) -> Result<(), Disagreement> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !media_types(kind)
        .iter()
        .any(|known| essence.eq_ignore_ascii_case(known))
    {
        return Err(Disagreement::ContentType {
            declared: for_display(content_type),
        });
    }
    let base_name = file_name.rsplit(['/', '\\']).next().unwrap_or_default();
    let extension = match base_name.rsplit_once('.') {
        Some((_, extension)) if !extension.is_empty() => extension,
        _ => return Err(Disagreement::MissingExtension),
    };
    if !extensions(kind)
        .iter()
        .any(|known| extension.eq_ignore_ascii_case(known))
    {
        return Err(Disagreement::Extension {
            declared: for_display(extension),
        });
    }
    Ok(())
}

/// The media types a client may declare for a kind, the canonical one first.
fn media_types(kind: Kind) -> &'static [&'static str] {
    match kind {
        // Old Internet Explorer sent image/pjpeg for progressive JPEGs; image/jpg is a common
        // misspelling.
        Kind::Jpeg => &["image/jpeg", "image/jpg", "image/pjpeg"],
        Kind::Png => &["image/png"],
        Kind::Gif => &["image/gif"],
        Kind::Webp => &["image/webp"],
        // Safari labels .m4v files video/x-m4v.
        Kind::Mp4 => &["video/mp4", "video/x-m4v"],
        Kind::Mov => &["video/quicktime"],
        // Not video/x-matroska: a client calling the file Matroska is not sending WebM.
        Kind::Webm => &["video/webm"],
    }
}

/// The file extensions a client may use for a kind, the canonical one first.
fn extensions(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Jpeg => &["jpg", "jpeg", "jpe"],
        Kind::Png => &["png"],
        Kind::Gif => &["gif"],
        Kind::Webp => &["webp"],
        Kind::Mp4 => &["mp4", "m4v"],
        Kind::Mov => &["mov", "qt"],
        Kind::Webm => &["webm"],
    }
}

/// A declared value made safe for messages and logs: control characters and the bidirectional
/// controls that can make `gpj.exe` display as `exe.jpg` are replaced, and the value is cut to
/// [`MAX_DECLARED_CHARS`] characters (the last one an ellipsis when cut).
fn for_display(value: &str) -> String {
    let mut chars = value.chars().map(|c| {
        if c.is_control() || is_bidi_control(c) {
            char::REPLACEMENT_CHARACTER
        } else {
            c
        }
    });
    let mut shown: String = chars.by_ref().take(MAX_DECLARED_CHARS - 1).collect();
    match (chars.next(), chars.next()) {
        (Some(last), None) => shown.push(last),
        (Some(_), Some(_)) => shown.push('…'),
        (None, _) => {}
    }
    shown
}

fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_accepts_its_canonical_labels() {
        for kind in Kind::ALL {
            assert_eq!(media_types(kind).first(), Some(&kind.mime()));
            assert_eq!(extensions(kind).first(), Some(&kind.extension()));
            let name = format!("file.{}", kind.extension());
            assert_eq!(check_declared(kind, kind.mime(), &name), Ok(()));
        }
    }

    #[test]
    fn display_values_are_cut_to_64_chars() {
        let exact = "a".repeat(64);
        assert_eq!(for_display(&exact), exact);
        let long = for_display(&"é".repeat(65));
        assert_eq!(long.chars().count(), 64);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn control_and_bidi_characters_are_replaced() {
        assert_eq!(
            for_display("a\nb\u{0}c\u{7F}"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}"
        );
        assert_eq!(for_display("x\u{202E}gpj"), "x\u{FFFD}gpj");
    }
}
