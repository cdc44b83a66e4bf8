use std::path::PathBuf;

/// Everything that can go wrong while getting data, each naming the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
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
            source,
        }
    }
}
