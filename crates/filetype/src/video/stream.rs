//! Reads at given offsets of a seekable reader.

use std::io::{Read, Seek, SeekFrom};

use crate::Malformed;

/// Fills `buf` from offset `at`.
pub(super) fn read_at<R: Read + Seek>(
    reader: &mut R,
    at: u64,
    buf: &mut [u8],
) -> Result<(), Malformed> {
    reader.seek(SeekFrom::Start(at))?;
    reader.read_exact(buf)?;
    Ok(())
}

/// Reads `len` bytes from offset `at` into a vector that grows as bytes arrive, so a reader
/// shorter than `len` never causes an allocation of `len` bytes. Callers cap `len`.
pub(super) fn read_vec_at<R: Read + Seek>(
    reader: &mut R,
    at: u64,
    len: u64,
) -> Result<Vec<u8>, Malformed> {
    reader.seek(SeekFrom::Start(at))?;
    let mut buf = Vec::new();
    reader.by_ref().take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(Malformed::Truncated);
    }
    Ok(buf)
}
