//! Why a file's structure could not be read.

use std::{fmt, io};

/// Why a file's structure could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The bytes end before the structure they describe does.
    Truncated,
    /// The structure is broken or not allowed; the text says what was wrong.
    Invalid(&'static str),
    /// The reader failed for a reason other than running out of bytes. This is not the file's
    /// fault, and a caller may want to retry instead of refusing the upload.
    Unreadable(io::ErrorKind),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Truncated => f.write_str("the file ends before its structure does"),
            Malformed::Invalid(why) => write!(f, "malformed file: {why}"),
            Malformed::Unreadable(kind) => write!(f, "the file could not be read: {kind}"),
        }
    }
}

impl std::error::Error for Malformed {}

impl From<io::Error> for Malformed {
    fn from(error: io::Error) -> Self {
        // A reader that runs dry means the data is shorter than the structure (or the length the
        // caller gave) says.
        match error.kind() {
            io::ErrorKind::UnexpectedEof => Malformed::Truncated,
            kind => Malformed::Unreadable(kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_bytes_is_truncation() {
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(Malformed::from(eof), Malformed::Truncated);
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(
            Malformed::from(denied),
            Malformed::Unreadable(io::ErrorKind::PermissionDenied)
        );
    }
}
