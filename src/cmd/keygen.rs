//! `wxtoken keygen PATH`: writes a new store key (see `platform::storekey`).
//!
//! The key decrypts every refresh token and permanent code stored with it, so
//! an existing file is never replaced, the file is created exclusively and
//! never through a link, readable by its owner only, in a folder no other
//! user can change, and synced before wxtoken says it is done.

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::error::usage;
use crate::fsafe;
use crate::platform::storekey;

pub fn run(path: &Path) -> Result<()> {
    let shown = path.display();
    if path.as_os_str().is_empty() {
        return Err(usage("keygen: the key file's path is empty"));
    }
    fsafe::trusted(path, "store key file")?;
    let line = storekey::new_key_line()?;
    let mut file = fsafe::create_exclusive(path, 0o600).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => usage(format!(
            "store key file {shown} already exists: keep it (it decrypts what is stored) or remove it first"
        )),
        io::ErrorKind::NotFound => usage(format!(
            "could not create store key file {shown}: its folder does not exist: create it first"
        )),
        _ => anyhow::Error::new(e).context(format!("could not create store key file {shown}")),
    })?;
    // The umask may have taken more than group and others' bits.
    let written = file
        .set_permissions(Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(line.as_bytes()))
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        // Half a key is worse than none: the next run would refuse to replace it.
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e).with_context(|| format!("could not write store key file {shown}"));
    }
    // The new name lasts once its folder is synced.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(folder) = File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}
