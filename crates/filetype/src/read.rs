//! Bounds-checked reads from a byte slice. Every parser reads through these, so that an offset or
//! a length taken from the file can only ever produce [`Malformed::Truncated`], never a panic.

use crate::Malformed;

/// The `len` bytes at `at`; `Truncated` when they run past the end, including when `at + len`
/// overflows (which only a hostile length can cause).
pub(crate) fn bytes_at(data: &[u8], at: usize, len: usize) -> Result<&[u8], Malformed> {
    let end = at.checked_add(len).ok_or(Malformed::Truncated)?;
    data.get(at..end).ok_or(Malformed::Truncated)
}

/// The `N` bytes at `at` as an array.
pub(crate) fn array_at<const N: usize>(data: &[u8], at: usize) -> Result<[u8; N], Malformed> {
    <[u8; N]>::try_from(bytes_at(data, at, N)?).map_err(|_| Malformed::Truncated)
}

/// The byte at `at`.
pub(crate) fn u8_at(data: &[u8], at: usize) -> Result<u8, Malformed> {
    data.get(at).copied().ok_or(Malformed::Truncated)
}

/// A big-endian `u16` at `at`.
pub(crate) fn be_u16_at(data: &[u8], at: usize) -> Result<u16, Malformed> {
    array_at(data, at).map(u16::from_be_bytes)
}

/// A big-endian `u32` at `at`.
pub(crate) fn be_u32_at(data: &[u8], at: usize) -> Result<u32, Malformed> {
    array_at(data, at).map(u32::from_be_bytes)
}

/// A big-endian `u64` at `at`.
pub(crate) fn be_u64_at(data: &[u8], at: usize) -> Result<u64, Malformed> {
    array_at(data, at).map(u64::from_be_bytes)
}

/// A little-endian `u16` at `at`.
pub(crate) fn le_u16_at(data: &[u8], at: usize) -> Result<u16, Malformed> {
    array_at(data, at).map(u16::from_le_bytes)
}

/// A little-endian 24-bit integer at `at` (WebP stores canvas sizes this way).
pub(crate) fn le_u24_at(data: &[u8], at: usize) -> Result<u32, Malformed> {
    let [b0, b1, b2] = array_at(data, at)?;
    Ok(u32::from_le_bytes([b0, b1, b2, 0]))
}

/// A little-endian `u32` at `at`.
pub(crate) fn le_u32_at(data: &[u8], at: usize) -> Result<u32, Malformed> {
    array_at(data, at).map(u32::from_le_bytes)
}

/// Whether `data` holds `pattern` at `at`.
pub(crate) fn has_at(data: &[u8], at: usize, pattern: &[u8]) -> bool {
    bytes_at(data, at, pattern.len()).is_ok_and(|found| found == pattern)
}

/// Checks that `data` starts with `magic`. Input that is a proper prefix of the magic is
/// `Truncated` (the caller may simply not have read enough); anything else is `Invalid(what)`.
pub(crate) fn expect_magic(data: &[u8], magic: &[u8], what: &'static str) -> Result<(), Malformed> {
    if data.starts_with(magic) {
        Ok(())
    } else if magic.starts_with(data) {
        Err(Malformed::Truncated)
    } else {
        Err(Malformed::Invalid(what))
    }
}

/// A length read from the file as a `usize`; one that does not fit cannot be in memory anyway.
pub(crate) fn to_usize(value: u64) -> Result<usize, Malformed> {
    usize::try_from(value).map_err(|_| Malformed::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_truncated() {
        let data = [1, 2, 3];
        assert_eq!(be_u16_at(&data, 1), Ok(0x0203));
        assert_eq!(be_u16_at(&data, 2), Err(Malformed::Truncated));
        assert_eq!(u8_at(&data, 3), Err(Malformed::Truncated));
        assert_eq!(bytes_at(&data, usize::MAX, 2), Err(Malformed::Truncated));
        assert_eq!(bytes_at(&data, 4, 0), Err(Malformed::Truncated));
        assert_eq!(bytes_at(&data, 3, 0), Ok(&[][..]));
    }

    #[test]
    fn byte_orders() {
        let data = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(be_u32_at(&data, 0), Ok(0x0102_0304));
        assert_eq!(le_u32_at(&data, 0), Ok(0x0403_0201));
        assert_eq!(le_u16_at(&data, 6), Ok(0x0807));
        assert_eq!(le_u24_at(&data, 1), Ok(0x04_0302));
        assert_eq!(be_u64_at(&data, 0), Ok(0x0102_0304_0506_0708));
    }

    #[test]
    fn magic_prefixes_are_truncated_and_others_invalid() {
        assert_eq!(expect_magic(b"GIF89a!", b"GIF", "x"), Ok(()));
        assert_eq!(expect_magic(b"GI", b"GIF", "x"), Err(Malformed::Truncated));
        assert_eq!(expect_magic(b"", b"GIF", "x"), Err(Malformed::Truncated));
        assert_eq!(
            expect_magic(b"PNG", b"GIF", "x"),
            Err(Malformed::Invalid("x"))
        );
        assert!(has_at(b"abcdef", 2, b"cd"));
        assert!(!has_at(b"abcdef", 5, b"fg"));
    }
}
