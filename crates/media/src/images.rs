//! Images are never served as uploaded: each is decoded under limits, turned upright by its
//! EXIF orientation and encoded afresh, which leaves behind its metadata (EXIF with GPS,
//! comments) and anything appended to it. Two thumbnails are made from the same pixels.

use std::io::Cursor;

use bytes::Bytes;
use df_common::Error;
use image::{
    DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits,
    codecs::{jpeg::JpegEncoder, png::PngEncoder},
};

use crate::{errors::MediaError, status::MediaKind};

/// Longer side of the thumbnails, in pixels.
pub const THUMB_SMALL: u32 = 320;
pub const THUMB_LARGE: u32 = 960;

/// An image ready to serve.
#[derive(Debug)]
pub struct Derived {
    pub display: Bytes,
    pub thumb_small: Bytes,
    pub thumb_large: Bytes,
    pub width: u32,
    pub height: u32,
}

/// The MIME type the display variant of `kind` is served as: JPEG stays JPEG, every other image
/// becomes PNG (lossless, keeps transparency; an animation keeps its first frame).
pub fn served_mime(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Jpeg => "image/jpeg",
        MediaKind::Png | MediaKind::Gif | MediaKind::Webp => "image/png",
        MediaKind::Mp4 => "video/mp4",
        MediaKind::Mov => "video/quicktime",
        MediaKind::Webm => "video/webm",
    }
}

/// The file extension of what is served for `kind`.
pub fn served_extension(kind: MediaKind) -> &'static str {
    match served_mime(kind) {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        _ => "webm",
    }
}

/// Refuses an image whose header claims more than `max_pixels` pixels, before anything
/// decodes it (a few bytes can announce a picture too large for memory); an unreadable header
/// is corrupt.
pub fn check_pixels(kind: df_filetype::Kind, bytes: &[u8], max_pixels: u64) -> Result<(), Error> {
    let dimensions = df_filetype::image_dimensions(kind, bytes)
        .map_err(|e| Error::from(MediaError::Corrupt).with_cause(anyhow::anyhow!("{e}")))?;
    if dimensions.pixels() > max_pixels {
        return Err(MediaError::PixelLimit.with_message(format!(
            "The image has {} × {} pixels; at most {max_pixels} pixels are allowed.",
            dimensions.width, dimensions.height
        )));
    }
    Ok(())
}

/// Decodes `bytes` (already sniffed as `kind`, its header within `max_pixels`) and encodes what
/// is served. CPU-bound: call it on a blocking thread.
pub fn derive(kind: MediaKind, bytes: &[u8], max_pixels: u64) -> Result<Derived, Error> {
    let format = match kind {
        MediaKind::Jpeg => ImageFormat::Jpeg,
        MediaKind::Png => ImageFormat::Png,
        MediaKind::Gif => ImageFormat::Gif,
        MediaKind::Webp => ImageFormat::WebP,
        MediaKind::Mp4 | MediaKind::Mov | MediaKind::Webm => {
            return Err(Error::internal(anyhow::anyhow!("not an image: {kind}")));
        }
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    // RGBA at 8 bits, the decoder's working copy and the rotated one.
    limits.max_alloc = Some(max_pixels.saturating_mul(4).saturating_mul(3));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().map_err(corrupt)?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    picture.apply_orientation(orientation);
    let display = match kind {
        MediaKind::Jpeg => jpeg(&picture, 90)?,
        _ => png(&picture)?,
    };
    // A thumbnail is never larger than the picture: a small one is not blown up.
    let fitted = |side: u32| {
        if picture.width() <= side && picture.height() <= side {
            picture.clone()
        } else {
            picture.thumbnail(side, side)
        }
    };
    Ok(Derived {
        thumb_small: jpeg(&fitted(THUMB_SMALL), 80)?,
        thumb_large: jpeg(&fitted(THUMB_LARGE), 85)?,
        width: picture.width(),
        height: picture.height(),
        display,
    })
}

fn corrupt(e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(_) => MediaError::PixelLimit.into(),
        other => Error::from(MediaError::Corrupt).with_cause(anyhow::anyhow!("{other}")),
    }
}

fn jpeg(picture: &DynamicImage, quality: u8) -> Result<Bytes, Error> {
    let mut out = Vec::new();
    let rgb = picture.to_rgb8();
    rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut out, quality))
        .map_err(Error::internal)?;
    Ok(out.into())
}

fn png(picture: &DynamicImage) -> Result<Bytes, Error> {
    let mut out = Vec::new();
    let rgba = picture.to_rgba8();
    rgba.write_with_encoder(PngEncoder::new(&mut out))
        .map_err(Error::internal)?;
    Ok(out.into())
}
