//! What the first bytes of a file say it is.

mod bmff;
mod markup;

use crate::{Kind, ebml, read::has_at};

/// How many leading bytes [`sniff`] looks at, at most. Callers read this much (or the whole file,
/// when it is shorter) before sniffing; bytes past it are ignored.
pub const SNIFF_LEN: usize = 512;

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sniffed {
    /// A kind the platform accepts; its structure still has to be checked.
    Accepted(Kind),
    /// Anything else; the upload is refused.
    Refused(Detected),
}

impl Sniffed {
    /// The accepted kind, if any.
    pub fn accepted(self) -> Option<Kind> {
        match self {
            Sniffed::Accepted(kind) => Some(kind),
            Sniffed::Refused(_) => None,
        }
    }
}

/// A recognised format the platform refuses, or [`Detected::Unknown`]. Naming it lets the refusal
/// tell the uploader what the file looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Detected {
    /// No bytes at all.
    Empty,
    /// ZIP archive; also every format built on it (docx, xlsx, jar, apk, epub...).
    Zip,
    /// gzip stream.
    Gzip,
    /// bzip2 stream.
    Bzip2,
    /// xz stream.
    Xz,
    /// Zstandard stream.
    Zstd,
    /// 7-Zip archive.
    SevenZip,
    /// RAR archive (version 1.5 to 5).
    Rar,
    /// POSIX or GNU tar archive ("ustar" at offset 257).
    Tar,
    /// PDF document.
    Pdf,
    /// HTML document (XHTML included).
    Html,
    /// SVG image: refused because it is a document that can carry scripts.
    Svg,
    /// Any other XML document.
    Xml,
    /// ELF executable or library.
    Elf,
    /// Windows or DOS executable ("MZ").
    WindowsExecutable,
    /// Mach-O executable, 32 or 64 bits, either byte order, or a fat (universal) binary.
    MachO,
    /// Java class file (shares its magic number with fat Mach-O binaries).
    JavaClass,
    /// WebAssembly module.
    Wasm,
    /// OLE compound file: legacy Office documents, MSI installers.
    CompoundFile,
    /// Script with a "#!" interpreter line.
    Script,
    /// HEIF image (HEIC); refused until the platform can transcode it.
    Heic,
    /// AVIF image; refused until the platform can transcode it.
    Avif,
    /// Audio-only MPEG-4 (M4A, M4B, M4P).
    Audio,
    /// Matroska video other than WebM; browsers do not play it.
    Matroska,
    /// Nothing recognised.
    Unknown,
}

impl Detected {
    /// A short human-readable name, for the message that refuses the upload.
    pub fn name(self) -> &'static str {
        match self {
            Detected::Empty => "empty file",
            Detected::Zip => "ZIP archive",
            Detected::Gzip => "gzip archive",
            Detected::Bzip2 => "bzip2 archive",
            Detected::Xz => "xz archive",
            Detected::Zstd => "Zstandard archive",
            Detected::SevenZip => "7-Zip archive",
            Detected::Rar => "RAR archive",
            Detected::Tar => "tar archive",
            Detected::Pdf => "PDF document",
            Detected::Html => "HTML document",
            Detected::Svg => "SVG image",
            Detected::Xml => "XML document",
            Detected::Elf => "ELF executable",
            Detected::WindowsExecutable => "Windows executable",
            Detected::MachO => "Mach-O executable",
            Detected::JavaClass => "Java class file",
            Detected::Wasm => "WebAssembly module",
            Detected::CompoundFile => "OLE compound document",
            Detected::Script => "script",
            Detected::Heic => "HEIC image",
            Detected::Avif => "AVIF image",
            Detected::Audio => "MPEG-4 audio",
            Detected::Matroska => "Matroska video",
            Detected::Unknown => "unknown file type",
        }
    }
}

/// Fixed signatures at offset 0, accepted and refused alike. None is a prefix of another, so
/// their order does not matter.
const MAGIC: &[(&[u8], Sniffed)] = &[
    (&[0xFF, 0xD8, 0xFF], Sniffed::Accepted(Kind::Jpeg)),
    (
        &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
        Sniffed::Accepted(Kind::Png),
    ),
    (b"GIF87a", Sniffed::Accepted(Kind::Gif)),
    (b"GIF89a", Sniffed::Accepted(Kind::Gif)),
    (b"PK\x03\x04", Sniffed::Refused(Detected::Zip)),
    // An empty archive, and the first part of a split one.
    (b"PK\x05\x06", Sniffed::Refused(Detected::Zip)),
    (b"PK\x07\x08", Sniffed::Refused(Detected::Zip)),
    (&[0x1F, 0x8B], Sniffed::Refused(Detected::Gzip)),
    (b"BZh", Sniffed::Refused(Detected::Bzip2)),
    (
        &[0xFD, b'7', b'z', b'X', b'Z', 0x00],
        Sniffed::Refused(Detected::Xz),
    ),
    (&[0x28, 0xB5, 0x2F, 0xFD], Sniffed::Refused(Detected::Zstd)),
    (
        &[b'7', b'z', 0xBC, 0xAF, 0x27, 0x1C],
        Sniffed::Refused(Detected::SevenZip),
    ),
    (b"Rar!\x1A\x07", Sniffed::Refused(Detected::Rar)),
    (b"%PDF-", Sniffed::Refused(Detected::Pdf)),
    (b"\x7FELF", Sniffed::Refused(Detected::Elf)),
    (b"MZ", Sniffed::Refused(Detected::WindowsExecutable)),
    (&[0xFE, 0xED, 0xFA, 0xCE], Sniffed::Refused(Detected::MachO)),
    (&[0xFE, 0xED, 0xFA, 0xCF], Sniffed::Refused(Detected::MachO)),
    (&[0xCE, 0xFA, 0xED, 0xFE], Sniffed::Refused(Detected::MachO)),
    (&[0xCF, 0xFA, 0xED, 0xFE], Sniffed::Refused(Detected::MachO)),
    // 64-bit fat binaries; the 32-bit magic is shared with Java and handled apart.
    (&[0xCA, 0xFE, 0xBA, 0xBF], Sniffed::Refused(Detected::MachO)),
    (b"\0asm", Sniffed::Refused(Detected::Wasm)),
    (
        &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1],
        Sniffed::Refused(Detected::CompoundFile),
    ),
    (b"#!", Sniffed::Refused(Detected::Script)),
];

/// Decides what a file is from its first bytes (at most [`SNIFF_LEN`] of them are looked at).
///
/// A file is accepted only when its signature sits where the format puts it; anything not
/// recognised is `Refused(Detected::Unknown)`. A tar header wins over an accepted signature:
/// tar readers ignore the first bytes, so such a file is both (a polyglot).
pub fn sniff(head: &[u8]) -> Sniffed {
    let head = head.get(..SNIFF_LEN).unwrap_or(head);
    if head.is_empty() {
        return Sniffed::Refused(Detected::Empty);
    }
    if has_at(head, 257, b"ustar") {
        return Sniffed::Refused(Detected::Tar);
    }
    if let Some(&(_, sniffed)) = MAGIC.iter().find(|(magic, _)| head.starts_with(magic)) {
        return sniffed;
    }
    if head.starts_with(&[0xCA, 0xFE, 0xBA, 0xBE]) {
        return Sniffed::Refused(fat_binary_or_java_class(head));
    }
    if head.starts_with(b"RIFF") && has_at(head, 8, b"WEBP") {
        return Sniffed::Accepted(Kind::Webp);
    }
    if let Some(sniffed) = bmff::sniff(head) {
        return sniffed;
    }
    if head.starts_with(&ebml::EBML_MAGIC) {
        return match ebml::sniff_doc_type(head) {
            Some(b"webm") => Sniffed::Accepted(Kind::Webm),
            Some(b"matroska") => Sniffed::Refused(Detected::Matroska),
            _ => Sniffed::Refused(Detected::Unknown),
        };
    }
    Sniffed::Refused(markup::sniff(head).unwrap_or(Detected::Unknown))
}

/// CAFEBABE starts both fat Mach-O binaries and Java class files. The next word is the number of
/// architectures in the first (a handful) and the class file version in the second (45 or more,
/// with a zero minor version in front).
fn fat_binary_or_java_class(head: &[u8]) -> Detected {
    match crate::read::be_u32_at(head, 4) {
        Ok(word) if word >= 45 => Detected::JavaClass,
        _ => Detected::MachO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_signature_is_a_prefix_of_another() {
        for (i, (a, _)) in MAGIC.iter().enumerate() {
            for (j, (b, _)) in MAGIC.iter().enumerate() {
                assert!(i == j || !b.starts_with(a), "{a:?} is a prefix of {b:?}");
            }
        }
    }

    #[test]
    fn cafebabe_is_told_apart() {
        assert_eq!(
            sniff(&[0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 2]),
            Sniffed::Refused(Detected::MachO)
        );
        assert_eq!(
            sniff(&[0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 61]),
            Sniffed::Refused(Detected::JavaClass)
        );
    }

    #[test]
    fn only_the_first_sniff_len_bytes_count() {
        let mut seen = vec![b' '; SNIFF_LEN - 8];
        seen.extend_from_slice(b"<html>");
        let mut unseen = vec![b' '; SNIFF_LEN];
        unseen.extend_from_slice(b"<html>");
        assert_eq!(sniff(&seen), Sniffed::Refused(Detected::Html));
        assert_eq!(sniff(&unseen), Sniffed::Refused(Detected::Unknown));
    }
}
