//! Writing files wxtoken creates: exclusively, never through a link, and
//! replacing one atomically relative to its checked folder.

use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context, Result};

use super::{Owners, problem};
use crate::error::usage;

/// Creates `path` for writing, only if nothing (not even a dangling link) is
/// there: `O_CREAT | O_EXCL | O_NOFOLLOW`, with `mode` (less the umask).
pub fn create_exclusive(path: &Path, mode: u32) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(mode)
        .open(path)
}

/// Replaces `path` with `bytes` so that readers see the old file or the new
/// one, never half of it: a new file with a random name in the same folder
/// (created exclusively, with `mode` less the umask), written, synced, then
/// renamed over `path`. The folder must pass [`trusted`]; `what` names the path.
/// Everything after the check happens relative to the folder opened once and
/// found to be the one checked (`openat`, `renameat`): a folder swapped on the
/// path meanwhile is refused, never written into.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32, what: &str) -> Result<()> {
    let shown = path.display();
    let name = path
        .file_name()
        .ok_or_else(|| usage(format!("{what} {shown} names no file")))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let checked = problem(dir, Owners::AndFileOwner)
        .map_err(|p| usage(format!("{what} {shown}: {p}")))?
        .ok_or_else(|| {
            usage(format!(
                "{what} {shown}: folder {} does not exist",
                dir.display()
            ))
        })?;
    write_in(dir, &checked, name, bytes, mode).with_context(|| format!("could not write {shown}"))
}

/// [`write_atomically`] once the folder `dir` was checked (`checked`).
pub(super) fn write_in(
    dir: &Path,
    checked: &Metadata,
    name: &std::ffi::OsStr,
    bytes: &[u8],
    mode: u32,
) -> Result<()> {
    use rustix::fs::{AtFlags, Mode, OFlags, fstat, fsync, renameat, unlinkat};
    let folder = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)
    .with_context(|| format!("could not open folder {}", dir.display()))?;
    let st = fstat(&folder).map_err(io::Error::from)?;
    if st.st_dev != checked.dev() || st.st_ino != checked.ino() {
        return Err(usage(format!(
            "folder {} was replaced after it was checked (is another user changing it?): nothing was written",
            dir.display()
        )));
    }
    let (tmp, file) = create_beside(&folder, &name.to_string_lossy(), mode)
        .with_context(|| format!("could not create a new file in {}", dir.display()))?;
    let written = (&file)
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| renameat(&folder, tmp.as_str(), &folder, name).map_err(io::Error::from));
    if written.is_err() {
        let _ = unlinkat(&folder, tmp.as_str(), AtFlags::empty());
    }
    written?;
    // The rename itself lasts once the folder is synced; a failure here loses
    // nothing that was not already written.
    let _ = fsync(&folder);
    Ok(())
}

/// A new file beside `name` in `folder`, named `.NAME.RANDOM.tmp` (no other
/// user can guess it): created exclusively, never through a link, with `mode`
/// less the umask. Its name and the open file.
pub fn create_beside(folder: &OwnedFd, name: &str, mode: u32) -> io::Result<(String, File)> {
    use rustix::fs::{Mode, OFlags, openat};
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    (0..100)
        .find_map(|_| {
            let tmp = format!(".{name}.{:016x}.tmp", random());
            match openat(folder, tmp.as_str(), flags, Mode::from_raw_mode(mode)) {
                Err(rustix::io::Errno::EXIST) => None,
                other => Some(other.map(|f| (tmp, File::from(f)))),
            }
        })
        .unwrap_or(Err(rustix::io::Errno::EXIST))
        .map_err(io::Error::from)
}

/// 64 bits no other user can guess, from the operating system (the time,
/// should it have none to give).
pub fn random() -> u64 {
    getrandom::u64().unwrap_or_else(|_| crate::clock::local_ms() as u64)
}
