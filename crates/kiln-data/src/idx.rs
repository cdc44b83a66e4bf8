//! The IDX format of MNIST: a big-endian header (zero, zero, element type, rank, then one
//! u32 per dimension) followed by the elements. Only unsigned bytes (type 0x08) are used by
//! MNIST and only those are accepted.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::DataError;

const UNSIGNED_BYTE: u8 = 0x08;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads the whole file, transparently un-gzipping it when it starts with the gzip magic.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decompress_if_gzip(path, raw)
}

pub(crate) fn decompress_if_gzip(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| DataError::Format {
            path: path.to_path_buf(),
            offset: out.len() as u64,
            expected: "a complete gzip stream".into(),
            found: format!(
                "a corrupt or truncated one ({e}) after {} decompressed bytes",
                out.len()
            ),
        })?;
    Ok(out)
}

/// Parses IDX bytes, requiring `rank` dimensions. `path` only labels errors; offsets in them
/// are offsets into the decompressed content.
pub fn parse(path: &Path, bytes: &[u8], rank: usize) -> Result<IdxArray, DataError> {
    let fail = |offset: usize, expected: String, found: String| DataError::Format {
        path: PathBuf::from(path),
        offset: offset as u64,
        expected,
        found,
    };
    if bytes.len() < 4 {
        return Err(fail(
            bytes.len(),
            "a 4-byte IDX magic number".into(),
            format!("end of file after {} bytes", bytes.len()),
        ));
    }
    let magic = &bytes[..4];
    if magic[0] != 0 || magic[1] != 0 {
        return Err(fail(
            0,
            "IDX magic starting with two zero bytes".into(),
            format!("{:02x} {:02x} (is this an IDX file?)", magic[0], magic[1]),
        ));
    }
    if magic[2] != UNSIGNED_BYTE {
        return Err(fail(
            2,
            "element type 0x08 (unsigned byte)".into(),
            format!("0x{:02x}", magic[2]),
        ));
    }
    if magic[3] as usize != rank {
        return Err(fail(
            3,
            format!("{rank} dimension(s)"),
            format!("{}", magic[3]),
        ));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(fail(
            bytes.len(),
            format!("a {header}-byte header"),
            format!("end of file after {} bytes", bytes.len()),
        ));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let at = 4 + 4 * i;
            u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            fail(
                4,
                "dimensions whose product fits in memory".into(),
                format!("{dims:?}"),
            )
        })?;
    let expected_len = header + count;
    if bytes.len() != expected_len {
        let what = if bytes.len() < expected_len {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(fail(
            bytes.len().min(expected_len),
            format!("{expected_len} bytes in all for dimensions {dims:?}"),
            format!("{} bytes ({what})", bytes.len()),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Encodes an array of unsigned bytes as IDX; used to write samples and test fixtures.
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, UNSIGNED_BYTE, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("x-idx3-ubyte")
    }

    #[test]
    fn round_trips() {
        let bytes = encode(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let arr = parse(p(), &bytes, 3).unwrap();
        assert_eq!(arr.dims, vec![2, 2, 3]);
        assert_eq!(arr.data[11], 12);
    }

    #[test]
    fn wrong_magic_names_offset_zero() {
        let mut bytes = encode(&[1], &[7]);
        bytes[0] = 0x50;
        let err = parse(p(), &bytes, 1).unwrap_err().to_string();
        assert!(
            err.contains("x-idx3-ubyte") && err.contains("byte 0"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_and_rank_are_reported_at_their_bytes() {
        let mut bytes = encode(&[1], &[7]);
        bytes[2] = 0x0d;
        assert!(
            parse(p(), &bytes, 1)
                .unwrap_err()
                .to_string()
                .contains("byte 2")
        );
        let bytes = encode(&[1, 1], &[7]);
        let err = parse(p(), &bytes, 3).unwrap_err().to_string();
        assert!(
            err.contains("byte 3") && err.contains("3 dimension"),
            "{err}"
        );
    }

    #[test]
    fn truncation_is_reported_with_expected_length() {
        let bytes = encode(&[3, 2], &[1, 2, 3, 4, 5, 6]);
        let err = parse(p(), &bytes[..bytes.len() - 2], 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("truncated") && err.contains("18 bytes"),
            "{err}"
        );
        let err = parse(p(), &bytes[..6], 2).unwrap_err().to_string();
        assert!(err.contains("header"), "{err}");
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let mut bytes = encode(&[1], &[1]);
        bytes.push(0);
        assert!(
            parse(p(), &bytes, 1)
                .unwrap_err()
                .to_string()
                .contains("trailing")
        );
    }

    #[test]
    fn cut_gzip_is_an_error() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&encode(&[1000], &[5; 1000])).unwrap();
        let gz = enc.finish().unwrap();
        let err = decompress_if_gzip(p(), gz[..gz.len() / 2].to_vec())
            .unwrap_err()
            .to_string();
        assert!(err.contains("gzip"), "{err}");
    }
}
