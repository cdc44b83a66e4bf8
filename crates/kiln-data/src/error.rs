use std::path::PathBuf;

/// Everything that can go wrong while getting data, each naming the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The OS error is part of the message, not a `source`: a chain would print it twice.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: at byte {offset}: expected {expected}, found {found}")]
    Format {
        path: PathBuf,
        offset: u64,
        expected: String,
        found: String,
    },
    #[error("{path}:{line}: expected {expected}, found {found}")]
    Line {
        path: PathBuf,
        line: usize,
        expected: String,
        found: String,
    },
    #[error("{path}: SHA-256 of the decompressed content is {actual}, expected {expected}")]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{name}: missing from {dir} and downloads are disabled ({hint})")]
    Missing {
        name: String,
        dir: PathBuf,
        hint: String,
    },
    #[error("could not download {name} from any mirror:\n{attempts}")]
    Download { name: String, attempts: String },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            error: plain(source),
        }
    }
}

/// The OS error without the temporary file's path that `tempfile` appends to it: messages
/// name the user's path, not an internal one.
fn plain(e: std::io::Error) -> std::io::Error {
    let message = e.to_string();
    match message.find(" at path ") {
        Some(at) => std::io::Error::new(e.kind(), message[..at].to_string()),
        None => e,
    }
}

#[cfg(test)]
mod io_tests {
    use super::*;

    #[test]
    fn io_errors_name_the_users_path_once() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no").join("such");
        let err = crate::download::readable_temp_file(&missing).unwrap_err();
        assert!(
            err.to_string().contains("at path"),
            "tempfile names its own path: {err}"
        );
        let e = DataError::io(&missing, err);
        // As anyhow's `{:#}` prints it: the message, then every source.
        let mut shown = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            shown.push_str(&format!(": {s}"));
            source = s.source();
        }
        assert_eq!(shown.matches("No such file").count(), 1, "{shown}");
        assert!(!shown.contains("at path"), "{shown}");
    }
}
