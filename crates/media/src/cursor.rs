//! Feed cursors: the position of the last post of a page (its publishing time and id), opaque
//! to clients. A cursor that does not decode is refused rather than read as "the first page",
//! so a client bug never shows the same page forever.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use df_common::Error;

use crate::{errors::MediaError, ids::PostId};

/// Longest cursor accepted (a real one is about 60 characters).
const MAX_CURSOR_LEN: usize = 128;

/// The position after which the next page starts.
pub type Position = (DateTime<Utc>, PostId);

/// The cursor of `position`.
pub fn encode(position: Position) -> String {
    let (at, id) = position;
    URL_SAFE_NO_PAD.encode(format!("v1:{}:{id}", at.timestamp_micros()))
}

/// The position in `cursor`; `None` for the empty cursor (the first page).
pub fn decode(cursor: &str) -> Result<Option<Position>, Error> {
    if cursor.is_empty() {
        return Ok(None);
    }
    let invalid = || Error::from(MediaError::InvalidCursor);
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, ':');
    let (Some("v1"), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(invalid)?;
    let id = id.parse::<PostId>().map_err(|_| invalid())?;
    Ok(Some((at, id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_decodes_to_its_position() {
        let at = DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap_or_default();
        let id = PostId::new();
        assert!(matches!(decode(&encode((at, id))), Ok(Some(p)) if p == (at, id)));
        assert!(matches!(decode(""), Ok(None)));
    }

    #[test]
    fn anything_else_is_refused() {
        let forged = [
            "not base64!",
            &URL_SAFE_NO_PAD.encode("v2:1:0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b"),
            &URL_SAFE_NO_PAD.encode("v1:x:0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b"),
            &URL_SAFE_NO_PAD.encode("v1:1:not-a-uuid"),
            &URL_SAFE_NO_PAD.encode("v1:99999999999999999999:0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b"),
            &"A".repeat(MAX_CURSOR_LEN + 1),
        ];
        for cursor in forged {
            let refused = decode(cursor);
            assert!(
                matches!(&refused, Err(e) if MediaError::InvalidCursor.is(e)),
                "{cursor}: {refused:?}"
            );
        }
    }
}
