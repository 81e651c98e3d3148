//! Opening inputs whose size the user controls: only regular files are memory-mapped, and
//! everything read into memory is read with a cap.
//!
//! A tick file is mapped, so it must be a regular file: a directory, FIFO, socket or device
//! (`/dev/zero`, a pipe fed from `/dev/urandom`) is refused before it is opened (opening a FIFO
//! would wait for a writer), with an error naming the path and what is there. Text read whole
//! (a settings file) is read with [`read_capped`]: any readable file, pipe or device, up to a
//! limit, past which the error names the limit instead of memory growing without end.

use std::fs::{File, FileType, Metadata};
use std::io::Read;
use std::path::Path;

use crate::error::{DataError, DataErrorKind, DataLocation};

/// What a file type is, in words, for errors ("a FIFO (named pipe)").
pub fn describe(ft: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
    }
    if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// A `Refused` error for `path`.
pub(crate) fn refused(path: &Path, reason: String) -> DataError {
    DataError::new(DataLocation::Unknown, DataErrorKind::Refused(reason)).in_file(path)
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |e| DataError::io(&e).in_file(path)
}

/// Refuse anything but a regular file, saying what `meta` is and why a regular file is needed.
fn require_regular(path: &Path, meta: &Metadata, why: &str) -> Result<(), DataError> {
    if meta.is_file() {
        return Ok(());
    }
    let what = describe(&meta.file_type());
    Err(refused(path, format!("{what}, not a regular file ({why})")))
}

/// Open `path` for reading when it is a regular file (after following links); give the file
/// and its length. Anything else is refused before it is opened, so a FIFO never blocks.
///
/// # Errors
/// `Refused` naming what is at `path` (a directory, FIFO, socket or device); `Io` with the
/// path.
pub fn open_regular(path: &Path, why: &str) -> Result<(File, u64), DataError> {
    let io = io_at(path);
    require_regular(path, &std::fs::metadata(path).map_err(&io)?, why)?;
    let file = File::open(path).map_err(&io)?;
    // Checked again on the open file: the path may have been replaced in between.
    let meta = file.metadata().map_err(&io)?;
    require_regular(path, &meta, why)?;
    Ok((file, meta.len()))
}

/// Read all of `path` (a file, pipe or device; not a directory) into memory, refusing more
/// than `limit` bytes.
///
/// # Errors
/// `TooLarge` (at the offset `limit`) when there is more; `Refused` for a directory; `Io`
/// with the path.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let io = io_at(path);
    let meta = std::fs::metadata(path).map_err(&io)?;
    if meta.is_dir() {
        return Err(refused(path, "a directory, not a file".to_string()));
    }
    if meta.is_file() && meta.len() > limit {
        return Err(too_large(path, limit));
    }
    let file = File::open(path).map_err(&io)?;
    read_to_limit(file, limit).map_err(|e| e.in_file(path))
}

fn too_large(path: &Path, limit: u64) -> DataError {
    DataError::new(
        DataLocation::Offset(limit),
        DataErrorKind::TooLarge { limit },
    )
    .in_file(path)
}

/// Read `input` to its end, refusing more than `limit` bytes (without a path: the caller adds
/// it).
///
/// # Errors
/// `TooLarge` at the offset `limit`; `Io`.
pub fn read_to_limit(input: impl Read, limit: u64) -> Result<Vec<u8>, DataError> {
    let mut bytes = Vec::new();
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::io(&e))?;
    if bytes.len() as u64 > limit {
        return Err(DataError::new(
            DataLocation::Offset(limit),
            DataErrorKind::TooLarge { limit },
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_to_limit_takes_exactly_the_limit_and_refuses_one_more_byte() {
        assert_eq!(read_to_limit(&[7u8; 10][..], 10).unwrap().len(), 10);
        let e = read_to_limit(&[7u8; 11][..], 10).unwrap_err();
        assert_eq!(e.kind, DataErrorKind::TooLarge { limit: 10 });
        assert_eq!(e.at, DataLocation::Offset(10));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_endless_device_is_read_up_to_the_cap_only() {
        let e = read_capped(Path::new("/dev/zero"), 4096).unwrap_err();
        assert_eq!(e.kind, DataErrorKind::TooLarge { limit: 4096 });
        assert!(e.to_string().starts_with("/dev/zero: "), "{e}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_device_is_not_opened_as_a_regular_file() {
        let e = open_regular(Path::new("/dev/zero"), "it is mapped").unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let e = open_regular(Path::new("/"), "it is mapped").unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
    }
}
