//! Users' and groups' names from the system's databases, for messages that
//! say whose a file or folder is.

/// The group's name, when the group database knows it.
pub(super) fn group(gid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: zeroed is a valid `group` (null pointers, zero id); getgrgid_r
    // writes only into `grp` and `buf` (whose length it is told), and on
    // success `gr_name` points into `buf`, a NUL-terminated string.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut found: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut found);
        if rc == 0 && !found.is_null() && !grp.gr_name.is_null() {
            return Some(
                std::ffi::CStr::from_ptr(grp.gr_name)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    None
}

/// The user's name, when the user database knows it.
pub(super) fn user(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: zeroed is a valid `passwd` (null pointers, zero ids); getpwuid_r
    // writes only into `pwd` and `buf` (whose length it is told), and on
    // success `pw_name` points into `buf`, a NUL-terminated string.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found);
        if rc == 0 && !found.is_null() && !pwd.pw_name.is_null() {
            return Some(
                std::ffi::CStr::from_ptr(pwd.pw_name)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    None
}
