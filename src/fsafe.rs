//! Files and folders that other users may control.
//!
//! wxtoken runs as root from cron on shared hosts, and what `show` prints goes
//! to `eval`: a database, config, secret or output file that another user could
//! replace is a way in. So every such path passes OpenSSH's StrictModes rule
//! ([`trusted`]) before it is opened: the file and every folder on its absolute
//! path (symbolic links followed, each link checked as an entry of its own) must
//! be owned by root, the running user or the file's owner, and not be writable
//! by group or others, except a sticky folder such as `/tmp` (its next entry,
//! owned by one of those, cannot be renamed or removed by anyone else).
//!
//! Opening: only regular files, refused at once otherwise (never blocking on a
//! FIFO); creating: exclusively and never through a link ([`create_exclusive`]);
//! replacing: a new file with a random name beside the target, renamed over it
//! ([`write_atomically`]).
//!
//! These checks cost a `stat` and one `lstat` per path component: `show` runs them.

use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::Result;

use crate::error::usage;

/// Symbolic links followed on one path at most (Linux's own limit).
const MAX_LINKS: u32 = 40;

/// Checks `path` as StrictModes does; `what` names it in the error (exit 2),
/// e.g. "database". A path that does not exist yet passes when its existing
/// folders do. Returns what the path names (links followed), if it exists.
pub fn trusted(path: &Path, what: &str) -> Result<Option<Metadata>> {
    trusted_as(path, what, Owners::AndFileOwner)
}

/// [`trusted`] with the owners a path may have.
pub fn trusted_as(path: &Path, what: &str, owners: Owners) -> Result<Option<Metadata>> {
    problem(path, owners).map_err(|p| usage(format!("{what} {}: {p}", path.display())))
}

/// Whose files and folders a path may pass through.
#[derive(Clone, Copy, PartialEq)]
pub enum Owners {
    /// Root, the running user, or the owner of the file itself (a database
    /// its own user keeps, which root and its readers may use).
    AndFileOwner,
    /// Root or the running user only: for a file that chooses what wxtoken
    /// reads and where it sends it (the config), which no other user may write.
    RootOrMe,
}

/// [`trusted`], with the problem as text.
fn problem(path: &Path, owners: Owners) -> Result<Option<Metadata>, String> {
    let target = fs::metadata(path).ok();
    let trust = Trust {
        euid: rustix::process::geteuid().as_raw(),
        owner: target
            .as_ref()
            .map(MetadataExt::uid)
            .filter(|_| owners == Owners::AndFileOwner),
        owners,
    };
    let mut links = 0;
    let mut at = PathBuf::from("/");
    if path.is_absolute() {
        walk(&mut at, path, &trust, &mut links)?;
    } else {
        let cwd = std::env::current_dir().map_err(|e| format!("no current folder: {e}"))?;
        walk(&mut at, &cwd.join(path), &trust, &mut links)?;
    }
    Ok(target)
}

/// Whom a path may belong to.
struct Trust {
    euid: u32,
    /// The owner of the file the path names, when it exists.
    owner: Option<u32>,
    owners: Owners,
}

impl Trust {
    fn allows(&self, uid: u32) -> bool {
        uid == 0 || uid == self.euid || Some(uid) == self.owner
    }
}

/// Checks each entry of `rest`, starting in the folder `at` (whose entries up
/// to here are checked); `at` follows along. A link's target is walked in place
/// of the link. Where an entry is missing (or cannot be looked at), the walk
/// ends well (false: nothing more to check): opening the path fails in the
/// same place, with its own error.
fn walk(at: &mut PathBuf, rest: &Path, trust: &Trust, links: &mut u32) -> Result<bool, String> {
    for part in rest.components() {
        match part {
            Component::RootDir => {
                *at = PathBuf::from("/");
                if *links == 0 {
                    check(at, &lstat(at)?.ok_or("/ is missing")?, trust)?;
                }
            }
            Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                at.pop();
            }
            Component::Normal(name) => {
                at.push(name);
                let Some(meta) = lstat(at)? else {
                    return Ok(false);
                };
                if !meta.file_type().is_symlink() {
                    check(at, &meta, trust)?;
                    continue;
                }
                if !trust.allows(meta.uid()) {
                    return Err(not_owned(
                        at,
                        &meta,
                        "symbolic link",
                        "chown -h root",
                        trust,
                    ));
                }
                *links += 1;
                if *links > MAX_LINKS {
                    return Err(format!(
                        "more than {MAX_LINKS} symbolic links on the path: point it at the file itself"
                    ));
                }
                let target = fs::read_link(&*at)
                    .map_err(|e| format!("could not read the link {}: {e}", at.display()))?;
                at.pop();
                if !walk(at, &target, trust, links)? {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

fn lstat(path: &Path) -> Result<Option<Metadata>, String> {
    use io::ErrorKind::{NotADirectory, NotFound, PermissionDenied};
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if matches!(e.kind(), NotFound | NotADirectory | PermissionDenied) => Ok(None),
        Err(e) => Err(format!("could not check {}: {e}", path.display())),
    }
}

/// One file or folder: its owner, and who may write to it.
fn check(path: &Path, meta: &Metadata, trust: &Trust) -> Result<(), String> {
    let kind = if meta.is_dir() { "folder" } else { "file" };
    if !trust.allows(meta.uid()) {
        return Err(not_owned(path, meta, kind, "chown root", trust));
    }
    let sticky_folder = meta.is_dir() && meta.mode() & 0o1000 != 0;
    let who = match meta.mode() & 0o022 {
        _ if sticky_folder => return Ok(()),
        0 => return Ok(()),
        0o020 => "group",
        0o002 => "others",
        _ => "group and others",
    };
    Err(format!(
        "{kind} {p} (owner {}, mode {:04o}) is writable by {who}: `chmod go-w {p}`",
        user(meta.uid()).unwrap_or_else(|| format!("uid {}", meta.uid())),
        meta.mode() & 0o7777,
        p = path.display(),
    ))
}

fn not_owned(path: &Path, meta: &Metadata, kind: &str, chown: &str, trust: &Trust) -> String {
    let uid = meta.uid();
    let whom = match trust.owners {
        Owners::AndFileOwner => "none of root, the running user and the file's owner",
        Owners::RootOrMe => {
            "neither root nor the running user (a file that chooses what wxtoken reads, trusts or sends must be theirs)"
        }
    };
    format!(
        "{kind} {p} (owner {}, mode {:04o}) belongs to {whom}: `{chown} {p}`, or move the file to a folder of theirs",
        user(uid).map_or_else(|| format!("uid {uid}"), |name| format!("{name}, uid {uid}")),
        meta.mode() & 0o7777,
        p = path.display(),
    )
}

/// When `path` cannot be looked at because a folder on it cannot be entered
/// (`stat` says EACCES, where `Path::exists` would just say false): a message
/// naming that folder, its owner, group and mode, and the fix.
pub fn unreachable(path: &Path, what: &str) -> Option<String> {
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
        _ => return None,
    }
    // The deepest folder that can still be looked at is the one that cannot be entered.
    let (dir, meta) = path
        .ancestors()
        .skip(1)
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .find_map(|d| Some((d, fs::metadata(d).ok()?)))?;
    let group = group(meta.gid()).unwrap_or_else(|| meta.gid().to_string());
    let fix = if let Some(home) = home_behind(path, dir) {
        // The default path under HOME: the folder is no reader's to open up.
        let uid = rustix::process::geteuid().as_raw();
        let me = user(uid).unwrap_or_else(|| format!("uid {uid}"));
        let through = if home.as_path() == dir {
            ""
        } else {
            " through it"
        };
        format!(
            "user {me} cannot reach HOME ({}){through}: run wxtoken with a HOME this user can enter (`su -l`, `runuser -l` and `sudo -H` set the user's own)",
            home.display()
        )
    } else if meta.gid() == 0 {
        // Group root opens far more than this folder: never the advice.
        format!(
            "its group is root, which readers must not join: give the folder a group of its readers (`chgrp GROUP {d} && chmod 0750 {d}`) and join that group, or run as its owner",
            d = dir.display()
        )
    } else if meta.mode() & 0o010 != 0 {
        format!("join its group (`sudo usermod -aG {group} \"$USER\"`, then log in again)")
    } else {
        format!(
            "it lets in its owner only: `chmod 0750 {}` and join its group (`sudo usermod -aG {group} \"$USER\"`, then log in again)",
            dir.display()
        )
    };
    Some(format!(
        "permission denied on folder {} (owner {}, group {group}, mode {:04o}), so {what} {} cannot be read: {fix}, or point --db at a database you can read",
        dir.display(),
        user(meta.uid()).unwrap_or_else(|| format!("uid {}", meta.uid())),
        meta.mode() & 0o7777,
        path.display(),
    ))
}

/// `HOME`, when `path` lies under it and `dir` (the folder that cannot be
/// entered) is HOME or a folder on the way to it: the default paths.
fn home_behind(path: &Path, dir: &Path) -> Option<std::path::PathBuf> {
    let home = std::path::PathBuf::from(std::env::var_os("HOME")?);
    (home.is_absolute() && path.starts_with(&home) && home.starts_with(dir)).then_some(home)
}

/// SQLite's files beside a database: its write-ahead log, its shared-memory
/// index and its rollback journal. SQLite opens them by name, reads what they
/// hold and would block on a FIFO there; in a sticky folder another user could
/// plant them before the database's first writer does.
const BESIDE: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Checks SQLite's files beside the database `db` (whose metadata is `db_meta`)
/// that exist: each must be a regular file, not a link, owned by root, the
/// running user or the database's owner, and writable by its owner only, as
/// the database itself. A usage error (exit 2) names the file and the fix.
pub fn trusted_beside(db: &Path, db_meta: &Metadata) -> Result<()> {
    let trust = Trust {
        euid: rustix::process::geteuid().as_raw(),
        owner: Some(db_meta.uid()),
        owners: Owners::AndFileOwner,
    };
    for suffix in BESIDE {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let side = PathBuf::from(name);
        let Some(meta) = lstat(&side).map_err(usage)? else {
            continue;
        };
        let shown = side.display();
        let kind = if meta.file_type().is_symlink() {
            Some("a symbolic link")
        } else {
            not_regular(&meta)
        };
        if let Some(kind) = kind {
            return Err(usage(format!(
                "database file {shown} is {kind}, not a regular file: SQLite would use it; remove it (`rm {shown}`) when no wxtoken runs"
            )));
        }
        check(&side, &meta, &trust)
            .map_err(|p| usage(format!("database {}: {p}", db.display())))?;
        if meta.nlink() > 1 {
            return Err(usage(hard_linked(&side)));
        }
    }
    Ok(())
}

/// The refusal of a database file with other names: a hard link made by the
/// owner of its folder to a file of root's would have wxtoken write into that
/// file, whose owner (root) the owner rule accepts.
pub fn hard_linked(path: &Path) -> String {
    format!(
        "database file {p} has other names (hard links): wxtoken writes only a file of its own; copy it (`cp {p} {p}.new && mv {p}.new {p}`) when no wxtoken runs",
        p = path.display()
    )
}

/// What a file that is not a regular one is, for messages ("a FIFO").
pub fn not_regular(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    let kinds = [
        (t.is_dir(), "a folder"),
        (t.is_fifo(), "a FIFO (named pipe)"),
        (t.is_socket(), "a socket"),
        (t.is_char_device(), "a character device"),
        (t.is_block_device(), "a block device"),
    ];
    let kind = kinds.into_iter().find(|(is, _)| *is);
    (!t.is_file()).then(|| kind.map_or("not a regular file", |(_, kind)| kind))
}

/// Reads a file that must be trusted ([`trusted`]), regular and at most `max`
/// bytes long; `what` names it in errors (all exit 2). Returns its bytes and
/// its metadata (from the open file).
pub fn read_trusted(path: &Path, what: &str, max: u64) -> Result<(Vec<u8>, Metadata)> {
    read_checked(path, what, max, Owners::AndFileOwner)
}

/// [`read_trusted`] with the owners a path may have.
pub fn read_checked(
    path: &Path,
    what: &str,
    max: u64,
    owners: Owners,
) -> Result<(Vec<u8>, Metadata)> {
    let shown = path.display();
    let not_a_file = |kind| {
        usage(format!(
            "{what} {shown} is {kind}, not a regular file: point it at a file"
        ))
    };
    if let Some(meta) = problem(path, owners).map_err(|p| usage(format!("{what} {shown}: {p}")))?
        && let Some(kind) = not_regular(&meta)
    {
        return Err(not_a_file(kind));
    }
    let cannot = |e: io::Error| usage(format!("could not read {what} {shown}: {e}"));
    // Not this user's to read: whose it is, and how this user may read it (a
    // file of root's is given away, never a reason to run as root).
    let denied = |e: io::Error| match fs::metadata(path) {
        Ok(meta) if e.kind() == io::ErrorKind::PermissionDenied => {
            let owner = user(meta.uid()).unwrap_or_else(|| format!("uid {}", meta.uid()));
            let uid = rustix::process::geteuid().as_raw();
            let me = user(uid).unwrap_or_else(|| uid.to_string());
            let fix = match meta.uid() {
                own if own == uid => format!("its mode keeps its owner out: `chmod u+r {shown}`"),
                0 => format!("give it to user {me}, who runs wxtoken: `chown {me} {shown}`"),
                _ => format!(
                    "give it to user {me}, who runs wxtoken (`chown {me} {shown}`), or run wxtoken as {owner}"
                ),
            };
            usage(format!(
                "could not read {what} {shown} (owner {owner}, mode {:04o}): permission denied: {fix}",
                meta.mode() & 0o7777
            ))
        }
        _ => cannot(e),
    };
    // Non-blocking: what was a regular file a moment ago may not be one now,
    // and opening a FIFO for reading would wait for a writer.
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(denied)?;
    let meta = file.metadata().map_err(cannot)?;
    if let Some(kind) = not_regular(&meta) {
        return Err(not_a_file(kind));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > max {
        return Err(usage(format!(
            "{what} {shown} is larger than {max} bytes: is it the right file?"
        )));
    }
    Ok((bytes, meta))
}

mod names;
mod write;
use names::{group, user};
pub use write::{create_beside, create_exclusive, random, write_atomically};

#[cfg(test)]
mod tests;
