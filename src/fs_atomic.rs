//! Whole-file reads with a size limit, and atomic writes: a temporary file in the target's
//! directory, fsync, rename over the target, fsync of the directory. A reader sees the old
//! file or the new one, never a torn one, and a failure leaves the target as it was.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Origin, Result};

/// Mode of files that hold secrets or single-use tokens.
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of public key files.
pub const PUBLIC_MODE: u32 = 0o644;

/// What a path names when it is not a regular file: "a FIFO", "a directory", ...
fn file_kind(ft: &fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Opens an input file and makes sure it is a regular file. The open never blocks (a FIFO
/// would wait for a writer forever): it uses `O_NONBLOCK`, then checks what was opened.
/// Every reader of token files, keys, certificates and configuration comes through here.
pub fn open_regular(path: &Path) -> Result<(File, fs::Metadata)> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    let ft = meta.file_type();
    if !ft.is_file() {
        return Err(read_err(std::io::Error::other(format!(
            "it is {}; give the path of a regular file",
            file_kind(&ft)
        ))));
    }
    Ok((file, meta))
}

/// Reads a whole regular file (see [`open_regular`]), refusing one larger than `limit`
/// bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let (file, meta) = open_regular(path)?;
    if meta.len() > limit {
        return Err(Error::TooLarge {
            origin: Origin::file(path),
            size: meta.len(),
            limit,
        });
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    // Read one byte past the limit, in case the file grew after the metadata call.
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.len() as u64 > limit {
        return Err(Error::TooLarge {
            origin: Origin::file(path),
            size: buf.len() as u64,
            limit,
        });
    }
    Ok(buf)
}

/// Writes `bytes` to `path` atomically with the given mode. A symbolic link at `path` is
/// refused rather than followed or replaced.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_all_atomic(&[(path, bytes, mode)])
}

/// Writes several files, each atomically: every file is first staged (written and synced
/// beside its target), and only when all are staged are they renamed into place. A failure
/// while staging leaves every target as it was.
pub fn write_all_atomic(files: &[(&Path, &[u8], u32)]) -> Result<()> {
    let mut staged: Vec<Staged> = Vec::with_capacity(files.len());
    for &(path, bytes, mode) in files {
        match Staged::new(path, bytes, mode) {
            Ok(s) => staged.push(s),
            Err(e) => {
                for s in &staged {
                    s.discard();
                }
                return Err(e);
            }
        }
    }
    let mut result = Ok(());
    for (i, s) in staged.iter().enumerate() {
        if let Err(e) = s.commit() {
            for rest in &staged[i..] {
                rest.discard();
            }
            result = Err(e);
            break;
        }
    }
    result
}

/// A file written and synced under a temporary name in its target's directory.
struct Staged {
    target: PathBuf,
    tmp: PathBuf,
    dir: PathBuf,
}

impl Staged {
    fn fail(path: &Path, reason: String) -> Error {
        Error::Write {
            path: path.to_path_buf(),
            reason,
        }
    }

    fn new(path: &Path, bytes: &[u8], mode: u32) -> Result<Self> {
        let name = path
            .file_name()
            .ok_or_else(|| Self::fail(path, "the path names no file".into()))?;
        match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Self::fail(
                    path,
                    "it is a symbolic link; refusing to write through it".into(),
                ))
            }
            Ok(m) if m.is_dir() => return Err(Self::fail(path, "it is a directory".into())),
            _ => {}
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut suffix = [0u8; 8];
        aws_lc_rs::rand::fill(&mut suffix)
            .map_err(|_| Self::fail(path, "no randomness available".into()))?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            suffix
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ));
        let written = (|| -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            // The umask may have taken bits away; set exactly the mode asked for.
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            f.write_all(bytes)?;
            f.sync_all()
        })();
        let staged = Staged {
            target: path.to_path_buf(),
            tmp,
            dir,
        };
        if let Err(e) = written {
            staged.discard();
            return Err(Self::fail(path, e.to_string()));
        }
        Ok(staged)
    }

    fn commit(&self) -> Result<()> {
        fs::rename(&self.tmp, &self.target).map_err(|e| Self::fail(&self.target, e.to_string()))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| {
                Self::fail(
                    &self.target,
                    format!("written, but the directory could not be synced: {e}"),
                )
            })
    }

    fn discard(&self) {
        let _ = fs::remove_file(&self.tmp);
    }
}
