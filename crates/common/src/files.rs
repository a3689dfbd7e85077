//! A byte range of a local file as a stream of large pieces. Each piece is read on the blocking
//! pool straight into the buffer that is sent on: tokio's `File` would read into a buffer of its
//! own and copy, and object_store reads 8 KiB per blocking call.

use std::{
    io::{self, Read, Seek, SeekFrom},
    ops::Range,
};

use bytes::Bytes;
use futures::Stream;

/// The largest piece read at once: as large as a gRPC message of file bytes.
pub const PIECE_BYTES: u64 = 1 << 20;

/// `range` of `file` in pieces of at most [`PIECE_BYTES`]. A file shorter than `range` ends
/// the stream with `UnexpectedEof`, never with fewer bytes than promised.
pub fn range_pieces(
    file: std::fs::File,
    range: Range<u64>,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let left = range.end.saturating_sub(range.start);
    futures::stream::try_unfold(
        (file, Some(range.start), left),
        |(file, seek, left)| async move {
            if left == 0 {
                return Ok(None);
            }
            let want = left.min(PIECE_BYTES);
            let (file, piece) = tokio::task::spawn_blocking(move || read_piece(file, seek, want))
                .await
                .map_err(io::Error::other)??;
            Ok(Some((piece, (file, None, left - want))))
        },
    )
}

/// `want` bytes of `file` (after seeking to `seek`, when given).
fn read_piece(
    mut file: std::fs::File,
    seek: Option<u64>,
    want: u64,
) -> io::Result<(std::fs::File, Bytes)> {
    if let Some(start) = seek {
        file.seek(SeekFrom::Start(start))?;
    }
    let capacity = usize::try_from(want).map_err(io::Error::other)?;
    let mut piece = Vec::with_capacity(capacity);
    (&mut file).take(want).read_to_end(&mut piece)?;
    if piece.len() < capacity {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok((file, Bytes::from(piece)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::io::Write;

    async fn read(file: &tempfile::NamedTempFile, range: Range<u64>) -> io::Result<Vec<Bytes>> {
        range_pieces(file.reopen()?, range).try_collect().await
    }

    #[tokio::test]
    async fn ranges_come_whole_in_pieces_and_a_short_file_is_an_error() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let content: Vec<u8> = (0..(PIECE_BYTES * 2 + 10))
            .map(|i| (i % 251) as u8)
            .collect();
        file.write_all(&content).unwrap();
        let whole = read(&file, 0..content.len() as u64).await.unwrap();
        let sizes: Vec<usize> = whole.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [1 << 20, 1 << 20, 10]);
        assert_eq!(whole.concat(), content);
        let middle = read(&file, 5..PIECE_BYTES + 7).await.unwrap();
        assert_eq!(middle.concat(), &content[5..(PIECE_BYTES + 7) as usize]);
        assert!(read(&file, 3..3).await.unwrap().is_empty());
        let past = read(&file, 0..content.len() as u64 + 1).await.unwrap_err();
        assert_eq!(past.kind(), io::ErrorKind::UnexpectedEof);
    }
}
