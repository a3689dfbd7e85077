//! ISO base media boxes inside a parent that was read into memory.

use crate::{
    Malformed,
    read::{array_at, be_u32_at, be_u64_at},
};

/// The children of a box whose body is `data`, as (type, body) pairs. A child running past
/// `data` is an error, after which the iteration stops.
pub(super) fn children(data: &[u8]) -> Boxes<'_> {
    Boxes { data, pos: 0 }
}

/// The body of the first child of type `kind`.
pub(super) fn find<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, Malformed> {
    for child in children(data) {
        let (found, body) = child?;
        if &found == kind {
            return Ok(Some(body));
        }
    }
    Ok(None)
}

/// The body at the end of a path of nested boxes.
pub(super) fn find_path<'a>(
    mut data: &'a [u8],
    path: &[&[u8; 4]],
) -> Result<Option<&'a [u8]>, Malformed> {
    for kind in path {
        match find(data, kind)? {
            Some(body) => data = body,
            None => return Ok(None),
        }
    }
    Ok(Some(data))
}

/// A child box: its type and its body.
pub(super) type Child<'a> = ([u8; 4], &'a [u8]);

/// Iterator returned by [`children`].
pub(super) struct Boxes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Boxes<'a> {
    fn step(&mut self) -> Result<Option<Child<'a>>, Malformed> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        if rest.len() < 8 {
            // QuickTime may end a list of atoms with a 32-bit zero.
            if rest.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            return Err(Malformed::Invalid("box header past the end of its parent"));
        }
        let kind = array_at(rest, 4)?;
        let (size, header_len) = match be_u32_at(rest, 0)? {
            // The box runs to the end of its parent.
            0 => (rest.len() as u64, 8),
            1 => (be_u64_at(rest, 8)?, 16),
            size => (u64::from(size), 8),
        };
        if size < header_len {
            return Err(Malformed::Invalid("box size smaller than its header"));
        }
        if size > rest.len() as u64 {
            return Err(Malformed::Invalid("box past the end of its parent"));
        }
        // Both fit in `rest`, whose length is a usize.
        let size = usize::try_from(size).map_err(|_| Malformed::Truncated)?;
        let header_len = usize::try_from(header_len).map_err(|_| Malformed::Truncated)?;
        let body = rest.get(header_len..size).ok_or(Malformed::Truncated)?;
        self.pos += size;
        Ok(Some((kind, body)))
    }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = Result<Child<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let result = self.step().transpose();
        if !matches!(result, Some(Ok(_))) {
            self.pos = self.data.len();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_zero_one_and_plain() {
        let mut data = vec![0, 0, 0, 9, b'a', b'b', b'c', b'd', 7];
        data.extend_from_slice(&[
            0, 0, 0, 1, b'l', b'a', b'r', b'g', 0, 0, 0, 0, 0, 0, 0, 17, 5,
        ]);
        data.extend_from_slice(&[0, 0, 0, 0, b'r', b'e', b's', b't', 1, 2]);
        let found: Vec<_> = children(&data).collect();
        assert_eq!(
            found,
            vec![
                Ok((*b"abcd", &[7u8][..])),
                Ok((*b"larg", &[5u8][..])),
                Ok((*b"rest", &[1u8, 2][..])),
            ]
        );
    }

    #[test]
    fn a_trailing_zero_word_ends_the_list() {
        let data = [0, 0, 0, 8, b'f', b'r', b'e', b'e', 0, 0, 0, 0];
        assert_eq!(children(&data).count(), 1);
        assert!(children(&data).all(|child| child.is_ok()));
    }

    #[test]
    fn overflowing_children_are_invalid_and_stop_the_walk() {
        let data = [0, 0, 0, 20, b'a', b'b', b'c', b'd', 0, 0, 0, 0];
        let found: Vec<_> = children(&data).collect();
        assert!(matches!(found.as_slice(), [Err(Malformed::Invalid(_))]));
    }
}
