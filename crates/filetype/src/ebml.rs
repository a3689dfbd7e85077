//! EBML, the binary markup WebM and Matroska are written in: variable-length integers and
//! element headers, read from byte slices.

use crate::{Malformed, read::u8_at};

/// The ID of the EBML header element, which starts every EBML file.
pub(crate) const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];
/// The EBML header element.
pub(crate) const EBML_ID: u32 = 0x1A45_DFA3;
/// The EBML header's DocType child: "webm" or "matroska".
pub(crate) const DOC_TYPE_ID: u32 = 0x4282;

/// The start of an element: its ID, the size of its body (`None`: unknown, running to the end
/// of its parent) and how many bytes the ID and size took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ElementHeader {
    pub(crate) id: u32,
    pub(crate) size: Option<u64>,
    pub(crate) len: usize,
}

/// Reads the element header at `at`.
pub(crate) fn element_header(data: &[u8], at: usize) -> Result<ElementHeader, Malformed> {
    let (id, id_len) = vint(data, at)?;
    // Element IDs keep their length marker, and WebM caps them at four bytes.
    if id_len > 4 {
        return Err(Malformed::Invalid("EBML element ID longer than 4 bytes"));
    }
    let id = u32::try_from(id.raw).map_err(|_| Malformed::Invalid("EBML element ID too long"))?;
    let (size, size_len) = vint(data, at + id_len)?;
    let size = (!size.all_ones()).then_some(size.value());
    Ok(ElementHeader {
        id,
        size,
        len: id_len + size_len,
    })
}

/// A variable-length integer as written: the marker bit included.
#[derive(Debug, Clone, Copy)]
struct Vint {
    raw: u64,
    len: usize,
}

impl Vint {
    /// The value without the length marker.
    fn value(self) -> u64 {
        self.raw & self.value_mask()
    }

    /// All value bits set means "unknown size", whatever the length.
    fn all_ones(self) -> bool {
        self.value() == self.value_mask()
    }

    fn value_mask(self) -> u64 {
        // `len` is 1 to 8, so the shift is 7 to 56.
        (1u64 << (7 * self.len)) - 1
    }
}

/// Reads the variable-length integer at `at`: the number of leading zero bits of its first byte
/// gives its length (1 to 8 bytes).
fn vint(data: &[u8], at: usize) -> Result<(Vint, usize), Malformed> {
    let first = u8_at(data, at)?;
    if first == 0 {
        return Err(Malformed::Invalid("EBML integer longer than 8 bytes"));
    }
    let len = first.leading_zeros() as usize + 1;
    let mut raw = u64::from(first);
    for offset in 1..len {
        raw = (raw << 8) | u64::from(u8_at(data, at + offset)?);
    }
    Ok((Vint { raw, len }, len))
}

/// The children of an element whose body is `data`, as (ID, body) pairs. A child of unknown
/// size or running past `data` is an error, after which the iteration stops.
pub(crate) fn children(data: &[u8]) -> Children<'_> {
    Children { data, pos: 0 }
}

/// Iterator returned by [`children`].
pub(crate) struct Children<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Children<'a> {
    fn step(&mut self) -> Result<(u32, &'a [u8]), Malformed> {
        let header = element_header(self.data, self.pos)?;
        let size = header.size.ok_or(Malformed::Invalid(
            "EBML element of unknown size inside a sized one",
        ))?;
        let start = self.pos + header.len;
        let end = usize::try_from(size)
            .ok()
            .and_then(|size| start.checked_add(size))
            .ok_or(Malformed::Truncated)?;
        let body = self.data.get(start..end).ok_or(Malformed::Truncated)?;
        self.pos = end;
        Ok((header.id, body))
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<(u32, &'a [u8]), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let result = self.step();
        if result.is_err() {
            self.pos = self.data.len();
        }
        Some(result)
    }
}

/// An unsigned integer element's value (big-endian, 0 to 8 bytes; empty means 0).
pub(crate) fn uint(body: &[u8]) -> Result<u64, Malformed> {
    if body.len() > 8 {
        return Err(Malformed::Invalid(
            "EBML unsigned integer longer than 8 bytes",
        ));
    }
    Ok(body
        .iter()
        .fold(0, |value, &byte| (value << 8) | u64::from(byte)))
}

/// A float element's value (4 or 8 bytes; empty means 0).
pub(crate) fn float(body: &[u8]) -> Result<f64, Malformed> {
    if body.is_empty() {
        return Ok(0.0);
    }
    if let Ok(bytes) = <[u8; 4]>::try_from(body) {
        return Ok(f64::from(f32::from_be_bytes(bytes)));
    }
    if let Ok(bytes) = <[u8; 8]>::try_from(body) {
        return Ok(f64::from_be_bytes(bytes));
    }
    Err(Malformed::Invalid("EBML float neither 4 nor 8 bytes long"))
}

/// The DocType in the body of an EBML header.
pub(crate) fn doc_type(header_body: &[u8]) -> Result<Option<&[u8]>, Malformed> {
    for child in children(header_body) {
        let (id, body) = child?;
        if id == DOC_TYPE_ID {
            return Ok(Some(without_padding(body)));
        }
    }
    Ok(None)
}

/// The DocType of an EBML file from its first bytes, if they show it. A header longer than the
/// head is searched as far as the head goes.
pub(crate) fn sniff_doc_type(head: &[u8]) -> Option<&[u8]> {
    let header = element_header(head, 0).ok()?;
    if header.id != EBML_ID {
        return None;
    }
    let body = head.get(header.len..)?;
    let size = usize::try_from(header.size?).ok()?;
    let body = body.get(..size.min(body.len()))?;
    // A child cut off by the end of the head only matters if the DocType was not before it.
    children(body)
        .map_while(Result::ok)
        .find(|&(id, _)| id == DOC_TYPE_ID)
        .map(|(_, value)| without_padding(value))
}

/// EBML strings may be padded with NULs to their element's size.
fn without_padding(value: &[u8]) -> &[u8] {
    let len = value.len() - value.iter().rev().take_while(|&&b| b == 0).count();
    value.get(..len).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vint_lengths_and_values() {
        let header = element_header(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F], 0);
        assert_eq!(
            header,
            Ok(ElementHeader {
                id: EBML_ID,
                size: Some(0x1F),
                len: 5
            })
        );
        let two_byte_size = element_header(&[0xEC, 0x40, 0x02], 0);
        assert_eq!(two_byte_size.map(|h| h.size), Ok(Some(2)));
        let eight_byte_size = element_header(&[0xEC, 0x01, 0, 0, 0, 0, 0, 1, 0], 0);
        assert_eq!(eight_byte_size.map(|h| (h.size, h.len)), Ok((Some(256), 9)));
    }

    #[test]
    fn all_ones_is_unknown_size() {
        let one = element_header(&[0x18, 0x53, 0x80, 0x67, 0xFF], 0);
        assert_eq!(one.map(|h| h.size), Ok(None));
        let eight = element_header(
            &[
                0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            ],
            0,
        );
        assert_eq!(eight.map(|h| h.size), Ok(None));
    }

    #[test]
    fn bad_vints() {
        assert!(matches!(
            element_header(&[0x00], 0),
            Err(Malformed::Invalid(_))
        ));
        // A five-byte ID.
        assert!(matches!(
            element_header(&[0x08, 1, 2, 3, 4, 0x80], 0),
            Err(Malformed::Invalid(_))
        ));
        assert_eq!(element_header(&[0x1A, 0x45], 0), Err(Malformed::Truncated));
        assert_eq!(element_header(&[0xEC], 0), Err(Malformed::Truncated));
    }

    #[test]
    fn children_stop_at_the_first_error() {
        let data = [0xEC, 0x81, 0x00, 0xEC, 0x85, 0x00];
        let found: Vec<_> = children(&data).collect();
        assert_eq!(
            found,
            vec![Ok((0xEC, &[0u8][..])), Err(Malformed::Truncated)]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(uint(&[]), Ok(0));
        assert_eq!(uint(&[0x0F, 0x42, 0x40]), Ok(1_000_000));
        assert!(uint(&[0; 9]).is_err());
        assert_eq!(float(&1.5f32.to_be_bytes()), Ok(1.5));
        assert_eq!(float(&2.25f64.to_be_bytes()), Ok(2.25));
        assert!(float(&[0; 3]).is_err());
    }

    #[test]
    fn doc_type_is_read_from_the_head() {
        let head = [
            0x1A, 0x45, 0xDF, 0xA3, 0x8C, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x85, b'w', b'e',
            b'b', b'm', 0,
        ];
        assert_eq!(sniff_doc_type(&head), Some(&b"webm"[..]));
        // Cut before the DocType ends.
        assert_eq!(sniff_doc_type(head.get(..14).unwrap_or_default()), None);
    }
}
