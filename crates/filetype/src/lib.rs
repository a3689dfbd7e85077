//! Decides what an uploaded file really is from its bytes, so that the media service can refuse
//! everything that is not one of the image and video formats it serves.
//!
//! The checks are meant to run in this order:
//!
//! 1. [`sniff`] the first [`SNIFF_LEN`] bytes. Only [`Sniffed::Accepted`] kinds go on; anything
//!    else is refused, and [`Detected::name`] says what it looked like.
//! 2. [`check_declared`]: the client's Content-Type and file name must name the same kind as the
//!    bytes, so that no other system trusting those labels is misled later.
//! 3. Images: [`image_dimensions`] reads the size from the header alone, so that decompression
//!    bombs are refused before any decoder allocates for them, and [`image_end`] finds where the
//!    image's own structure ends. Bytes after that end are an appended payload (a polyglot, e.g.
//!    a JPEG that is also a ZIP) and the upload is refused.
//! 4. Videos: [`video_info`] walks the container and reports its duration and dimensions.
//!
//! Every parser takes hostile input: it never panics, never allocates according to a size read
//! from the file (beyond the documented caps), and every loop advances through the input.
//!
//! ```
//! use df_filetype::{Detected, Kind, Sniffed, image_dimensions, sniff};
//!
//! let gif = b"GIF89a\x40\x01\xf0\x00\x00\x00\x00";
//! assert_eq!(sniff(gif), Sniffed::Accepted(Kind::Gif));
//! assert_eq!(image_dimensions(Kind::Gif, gif).map(|d| d.pixels()), Ok(320 * 240));
//! assert_eq!(sniff(b"PK\x03\x04\x14\x00"), Sniffed::Refused(Detected::Zip));
//! ```

mod declared;
mod ebml;
mod error;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod image;
mod kind;
mod read;
mod sniff;
mod video;

pub use declared::{Disagreement, check_declared};
pub use error::Malformed;
pub use image::{Dimensions, image_dimensions, image_end};
pub use kind::{Family, Kind};
pub use sniff::{Detected, SNIFF_LEN, Sniffed, sniff};
pub use video::{VideoInfo, video_info};
