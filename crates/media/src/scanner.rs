//! The malware scanner: clamd's `INSTREAM` command over TCP or a Unix socket. The file is sent
//! in chunks, each prefixed by its length as a 4-byte big-endian number, and a zero length ends
//! it; clamd answers `stream: OK` or `stream: <threat> FOUND`.

use std::time::Duration;

use bytes::Bytes;
use df_common::Error;
use futures::{Stream, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};

use crate::config::ScannerSettings;

/// The longest answer clamd gives that is read (a threat name is far shorter).
const MAX_REPLY: usize = 4096;
/// clamd reads a chunk into memory; its own default limit per chunk is far above this.
const CHUNK: usize = 64 * 1024;
/// The bytes one `scanner.timeout_ms` is allowed for.
const SLICE: u64 = 64 * 1024 * 1024;

/// What the scanner said of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing found.
    Clean,
    /// Malware, by the scanner's name for it.
    Infected(String),
}

/// Why no verdict came: the file stays unscanned and the scan is retried.
#[derive(Debug, thiserror::Error)]
pub enum ScanFailed {
    #[error("clamd unreachable: {0}")]
    Unreachable(std::io::Error),
    #[error("clamd did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("clamd answered `{0}`")]
    Refused(String),
    #[error("reading the file to scan: {0}")]
    Source(Error),
}

/// A clamd client.
#[derive(Clone, Debug)]
pub struct Clamd {
    address: String,
    timeout: Duration,
}

impl Clamd {
    /// The scanner `settings` name.
    pub fn new(settings: &ScannerSettings) -> Self {
        Self {
            address: settings.address.clone(),
            timeout: Duration::from_millis(settings.timeout_ms),
        }
    }

    /// Scans the `bytes` bytes `file` yields. The deadline grows with the size: the configured
    /// timeout for every 64 MiB begun.
    pub async fn scan(
        &self,
        file: impl Stream<Item = Result<Bytes, Error>> + Send,
        bytes: u64,
    ) -> Result<Verdict, ScanFailed> {
        let slices = u32::try_from(bytes / SLICE + 1).unwrap_or(u32::MAX);
        let deadline = self.timeout.saturating_mul(slices);
        match tokio::time::timeout(deadline, self.scan_unbounded(file)).await {
            Ok(answer) => answer,
            Err(_) => Err(ScanFailed::TimedOut(deadline)),
        }
    }

    async fn scan_unbounded(
        &self,
        file: impl Stream<Item = Result<Bytes, Error>> + Send,
    ) -> Result<Verdict, ScanFailed> {
        if let Some(path) = self.address.strip_prefix("unix:") {
            #[cfg(unix)]
            {
                let socket = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(ScanFailed::Unreachable)?;
                return instream(socket, file).await;
            }
            #[cfg(not(unix))]
            return Err(ScanFailed::Refused(format!("no Unix sockets here: {path}")));
        }
        let host = self.address.trim_start_matches("tcp://");
        let socket = TcpStream::connect(host)
            .await
            .map_err(ScanFailed::Unreachable)?;
        socket.set_nodelay(true).map_err(ScanFailed::Unreachable)?;
        instream(socket, file).await
    }
}

async fn instream<S: AsyncRead + AsyncWrite + Unpin>(
    mut socket: S,
    file: impl Stream<Item = Result<Bytes, Error>> + Send,
) -> Result<Verdict, ScanFailed> {
    socket
        .write_all(b"zINSTREAM\0")
        .await
        .map_err(ScanFailed::Unreachable)?;
    let mut file = std::pin::pin!(file);
    while let Some(bytes) = file.next().await {
        let bytes = bytes.map_err(ScanFailed::Source)?;
        for chunk in bytes.chunks(CHUNK) {
            let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            socket
                .write_all(&len.to_be_bytes())
                .await
                .map_err(ScanFailed::Unreachable)?;
            socket
                .write_all(chunk)
                .await
                .map_err(ScanFailed::Unreachable)?;
        }
    }
    socket
        .write_all(&0u32.to_be_bytes())
        .await
        .map_err(ScanFailed::Unreachable)?;
    socket.flush().await.map_err(ScanFailed::Unreachable)?;
    let mut reply = Vec::with_capacity(128);
    let mut limited = (&mut socket).take(MAX_REPLY as u64);
    limited
        .read_to_end(&mut reply)
        .await
        .map_err(ScanFailed::Unreachable)?;
    parse_reply(&reply)
}

/// Reads clamd's answer: `stream: OK`, `stream: <name> FOUND` or an error.
fn parse_reply(reply: &[u8]) -> Result<Verdict, ScanFailed> {
    let text = String::from_utf8_lossy(reply);
    let text = text.trim_end_matches(['\0', '\n']).trim();
    let Some(said) = text.strip_prefix("stream: ") else {
        return Err(ScanFailed::Refused(text.chars().take(200).collect()));
    };
    if said == "OK" {
        return Ok(Verdict::Clean);
    }
    match said.strip_suffix(" FOUND") {
        Some(threat) if !threat.is_empty() => Ok(Verdict::Infected(
            threat
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect(),
        )),
        _ => Err(ScanFailed::Refused(said.chars().take(200).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamd_answers_are_read_as_verdicts_or_failures() {
        assert_eq!(parse_reply(b"stream: OK\0").ok(), Some(Verdict::Clean));
        assert_eq!(
            parse_reply(b"stream: Eicar-Test-Signature FOUND\0").ok(),
            Some(Verdict::Infected("Eicar-Test-Signature".into()))
        );
        for failure in [
            &b"INSTREAM size limit exceeded. ERROR\0"[..],
            b"stream: FOUND\0",
            b"",
            b"stream: Something ERROR\0",
        ] {
            assert!(
                matches!(parse_reply(failure), Err(ScanFailed::Refused(_))),
                "{failure:?}"
            );
        }
    }
}
