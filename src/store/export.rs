//! `export_dir`: every stored valid value also as a file, `export_dir/NAME/KIND`
//! (a platform's customer `PLATFORM/APPID/KIND`), holding exactly the value.
//!
//! A store given an [`Export`] ([`wrap`]), after each write that can change a
//! value (a refresh's commit, an invalidation, a revocation), reads the app's
//! rows again and makes its files agree: a valid value is written as
//! a new file in the same folder and renamed over the old one (readers see one
//! or the other, never half), mode 0640 with the folder's group; a value that
//! is invalidated, revoked or expired has no file. Everything below the export
//! folder goes through folder descriptors (`openat`, `mkdirat`, `renameat`,
//! `unlinkat`) with `O_NOFOLLOW`: a link planted in it is refused, never followed.
//! Only what `show` prints is exported (tokens and tickets, not the tickets
//! pushed to platforms, which are inputs of wxtoken alone).
//!
//! A file that cannot be written does not undo or stop the store's write: it is
//! reported on stderr at once, and the command exits 1 at its end
//! ([`Store::export_problems`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rustix::fs::{
    AtFlags, CWD, Gid, Mode, OFlags, fchmod, fchown, mkdirat, openat, renameat, unlinkat,
};
use rustix::io::Errno;

use super::{Row, Store};
use crate::app::Kind;
use crate::error::usage;

/// The longest `export_dir`, in bytes (PATH_MAX).
pub const MAX_EXPORT_DIR: usize = 4096;

/// `export_dir` of the config `file`: an absolute path of reasonable length.
pub fn check_dir(dir: PathBuf, file: &std::path::Display) -> Result<PathBuf> {
    let text = dir.to_string_lossy();
    crate::text::max_bytes("export_dir", &text, MAX_EXPORT_DIR)?;
    if !dir.is_absolute() {
        return Err(usage(format!(
            "config {file}: field export_dir: {} is not an absolute path: use one such as \"/run/wxtoken\"",
            crate::text::quoted(&text)
        )));
    }
    Ok(dir)
}

/// The kinds written as files: what `show` prints (not the tickets pushed
/// to platforms).
fn exported(kind: Option<Kind>) -> bool {
    kind.is_some_and(|k| !k.is_pushed())
}

/// The folder a store's values are exported to.
pub struct Export {
    dir: OwnedFd,
    shown: PathBuf,
    /// The export folder's group: every file and folder below gets it.
    gid: u32,
    /// How many files could not be written or removed.
    pub(super) problems: usize,
}

/// `store`, exporting to `dir` when there is one. The folder must exist (the
/// service's `RuntimeDirectory=` makes it) and pass the trust check of the
/// database (exit 2 naming it otherwise).
pub fn wrap(mut store: Box<dyn Store>, dir: Option<&Path>) -> Result<Box<dyn Store>> {
    let Some(dir) = dir else { return Ok(store) };
    let shown = dir.display();
    if let Some(meta) = crate::fsafe::trusted(dir, "export_dir")?
        && !meta.is_dir()
    {
        return Err(usage(format!("export_dir {shown} is not a folder")));
    }
    let fd = open_dir(CWD, dir.as_os_str().as_bytes(), OFlags::empty()).map_err(|e| {
        usage(format!(
            "export_dir {shown}: {e}: create it (`install -d -m 0750 -g GROUP {shown}`), or set RuntimeDirectory=wxtoken in the service"
        ))
    })?;
    let gid = File::from(fd.try_clone()?).metadata()?.gid();
    store.export_to(Export {
        dir: fd,
        shown: dir.to_path_buf(),
        gid,
        problems: 0,
    });
    Ok(store)
}

/// Opens a folder beneath `at`; with `OFlags::NOFOLLOW` in `flags`, a link
/// there is refused.
fn open_dir(at: impl AsFd, name: &[u8], flags: OFlags) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | flags;
    openat(at, name, flags, Mode::empty())
}

/// The part of a path beneath the export folder: plain names only.
fn parts(app: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = app.split('/').collect();
    parts
        .iter()
        .all(|p| !p.is_empty() && *p != "." && *p != ".." && p.len() <= 255)
        .then_some(parts)
}

impl Export {
    /// Makes the files of `apps` (every app stored, when empty) agree with
    /// their stored `rows` (read for them).
    pub(super) fn sync(&mut self, apps: &[String], rows: Result<Vec<Row>>) {
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => return self.problem(&format!("could not read the values to export: {e:#}")),
        };
        let mut all: Vec<String> = Vec::new();
        let apps = if apps.is_empty() {
            all.extend(rows.iter().map(|r| r.app.clone()));
            all.sort();
            all.dedup();
            &all
        } else {
            apps
        };
        let now = crate::clock::now();
        for app in apps {
            let result = self.sync_app(app, &rows, now);
            if let Err(e) = result {
                let shown = self.shown.join(app);
                self.problem(&format!("{}: {e}", shown.display()));
            }
        }
    }

    fn sync_app(&self, app: &str, rows: &[Row], now: i64) -> io::Result<()> {
        let Some(parts) = parts(app) else {
            return Err(io::Error::other(
                "the app's name is not a folder name (empty, `.` or `..` between slashes): not exported",
            ));
        };
        let mut valid: Vec<&Row> = rows
            .iter()
            .filter(|r| r.app == app && exported(r.known_kind()))
            .filter(|r| r.invalidated_at.is_none() && r.expires_at > now)
            .filter(|r| !r.value.is_empty() && !r.value.chars().any(char::is_control))
            .collect();
        valid.sort_by(|a, b| a.kind.cmp(&b.kind));
        // Nothing to write: only files to remove, in a folder that may not exist.
        let folder = match self.folder(&parts, !valid.is_empty()) {
            Ok(folder) => folder,
            Err(e) if valid.is_empty() && e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for kind in Kind::ALL
            .into_iter()
            .filter(|k| exported(Some(*k)))
            .map(Kind::as_str)
        {
            match valid.iter().find(|r| r.kind == kind) {
                Some(row) => self.write(&folder, kind, &row.value)?,
                None => remove(&folder, kind)?,
            }
        }
        Ok(())
    }

    /// The folder `parts` beneath the export folder, made (0750, the export
    /// folder's group) when `create`. A link on the way is refused.
    fn folder(&self, parts: &[&str], create: bool) -> io::Result<OwnedFd> {
        let mut at = self.dir.try_clone()?;
        for part in parts {
            let next = match open_dir(&at, part.as_bytes(), OFlags::NOFOLLOW) {
                Err(Errno::NOENT) if create => {
                    match mkdirat(&at, *part, Mode::from_raw_mode(0o750)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    let fd = open_dir(&at, part.as_bytes(), OFlags::NOFOLLOW)?;
                    self.own(&fd, 0o750)?;
                    fd
                }
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    return Err(io::Error::other(format!(
                        "{part} is a symbolic link or not a folder: wxtoken writes no token through a link; remove it"
                    )));
                }
                other => other?,
            };
            let meta = File::from(next.try_clone()?).metadata()?;
            let euid = rustix::process::geteuid().as_raw();
            if (meta.uid() != euid && meta.uid() != 0) || meta.mode() & 0o022 != 0 {
                return Err(io::Error::other(format!(
                    "folder {part} (owner uid {}, mode {:04o}) could be changed by another user: remove it, wxtoken makes it again",
                    meta.uid(),
                    meta.mode() & 0o7777
                )));
            }
            at = next;
        }
        Ok(at)
    }

    /// The export folder's group and `mode` on a file or folder of ours.
    fn own(&self, fd: impl AsFd, mode: u32) -> io::Result<()> {
        // The owner left as it is; the umask does not apply to fchmod.
        fchown(&fd, None, Some(Gid::from_raw(self.gid)))?;
        Ok(fchmod(fd, Mode::from_raw_mode(mode))?)
    }

    /// Writes `value` as `folder/kind` unless it holds that already: a new
    /// file beside it, renamed over it.
    fn write(&self, folder: &OwnedFd, kind: &str, value: &str) -> io::Result<()> {
        if let Some((text, meta)) = read_at(folder, kind)?
            && text == value.as_bytes()
            && meta.mode() & 0o7777 == 0o640
            && meta.gid() == self.gid
        {
            return Ok(());
        }
        let (tmp, file) = crate::fsafe::create_beside(folder, kind, 0o600)?;
        let written = self.own(&file, 0o640).and_then(|()| {
            (&file).write_all(value.as_bytes())?;
            Ok(renameat(folder, tmp.as_str(), folder, kind)?)
        });
        if written.is_err() {
            let _ = unlinkat(folder, tmp.as_str(), AtFlags::empty());
        }
        written
    }

    fn problem(&mut self, msg: &str) {
        self.problems += 1;
        crate::out::errln!(
            "wxtoken: export_dir: {}",
            crate::text::shown(&crate::secret::redact(msg))
        );
    }
}

/// What `folder/name` holds now, when it is a regular file of at most 8 KiB.
fn read_at(folder: &OwnedFd, name: &str) -> io::Result<Option<(Vec<u8>, std::fs::Metadata)>> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    // Missing, a link, or not readable: replaced by the rename either way.
    let Ok(fd) = openat(folder, name, flags, Mode::empty()) else {
        return Ok(None);
    };
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.take(8192).read_to_end(&mut bytes)?;
    Ok(Some((bytes, meta)))
}

/// Removes `folder/name` if it is there (a link is removed, not followed).
fn remove(folder: &OwnedFd, name: &str) -> io::Result<()> {
    match unlinkat(folder, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
