//! Tests that need what not every machine has: root, switching to user
//! `nobody`, a private mount namespace, `script`'s terminal, nginx in front of
//! `systemd-socket-activate`.
//!
//! The rule: a test that cannot run never reports "ok". Such a test is written
//! `needs! { root: fn name() { ... } }`, which makes it `name::needs_root`,
//! `#[ignore]`d with the reason: a plain `cargo test` lists it as ignored, and
//! `cargo test -- --include-ignored` (or `--ignored ::needs_`) runs it. Once it
//! runs, a missing capability fails it with the reason, CI or not: a test that
//! was asked for and cannot do its work fails. `.ci/run` asks for all of them
//! with `CI=true`; elsewhere it leaves out (with `--skip ::needs_root` etc.) the
//! ones whose capability it finds missing, and says which.
//!
//! The PostgreSQL tests follow the same rule (`both!`'s `on_pg`, see `pg`).

use std::process::{Command, Stdio};

/// What a test needs.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// Root: chown files to `nobody`.
    Root,
    /// `runuser -u nobody` works (root, and util-linux's runuser).
    Runuser,
    /// `unshare -m` gives a private mount namespace where tmpfs mounts.
    Unshare,
    /// `script` (util-linux) runs a command on a pseudo-terminal.
    Script,
    /// nginx (Debian's `nginx`) and `systemd-socket-activate` (`systemd`).
    Nginx,
}

impl Need {
    /// Whether this machine has it.
    pub fn present(self) -> bool {
        let ok = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        match self {
            // SAFETY: geteuid cannot fail and touches no memory.
            Need::Root => (unsafe { libc::geteuid() }) == 0,
            Need::Runuser => ok("runuser", &["-u", "nobody", "--", "true"]),
            Need::Unshare => ok(
                "unshare",
                &["-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
            ),
            Need::Script => ok("script", &["-qec", "true", "/dev/null"]),
            Need::Nginx => {
                ok(crate::push_nginx::nginx(), &["-v"])
                    && ok("systemd-socket-activate", &["--version"])
            }
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Need::Root => "needs root (to chown files to user nobody)",
            Need::Runuser => "needs `runuser -u nobody` (root and util-linux)",
            Need::Unshare => "needs `unshare -m` with tmpfs mounts (root and util-linux)",
            Need::Script => "needs `script` (util-linux) for a pseudo-terminal",
            Need::Nginx => {
                "needs nginx and systemd-socket-activate (Debian's nginx and systemd packages)"
            }
        }
    }
}

/// Fails the calling test, with the reason, unless this machine has `need`.
#[track_caller]
pub fn need(need: Need) {
    if !need.present() {
        panic!(
            "{}: this test cannot run here, and a test that cannot run fails \
             rather than pass (a plain `cargo test` lists it as ignored)",
            need.reason()
        );
    }
}

/// A test that needs `root`, `runuser`, `unshare`, `script` or `nginx` (see the module
/// comment): `NAME::needs_root` etc., ignored unless asked for.
macro_rules! needs {
    (root: $(#[$attr:meta])* fn $name:ident() $body:block) => {
        crate::support::needs!(@ $name needs_root Root
            "needs root (chown to nobody): cargo test -- --ignored ::needs_ as root"
            $(#[$attr])* $body);
    };
    (runuser: $(#[$attr:meta])* fn $name:ident() $body:block) => {
        crate::support::needs!(@ $name needs_runuser Runuser
            "needs runuser -u nobody (root): cargo test -- --ignored ::needs_ as root"
            $(#[$attr])* $body);
    };
    (unshare: $(#[$attr:meta])* fn $name:ident() $body:block) => {
        crate::support::needs!(@ $name needs_unshare Unshare
            "needs unshare -m (root): cargo test -- --ignored ::needs_ as root"
            $(#[$attr])* $body);
    };
    (script: $(#[$attr:meta])* fn $name:ident() $body:block) => {
        crate::support::needs!(@ $name needs_script Script
            "needs script (util-linux): cargo test -- --ignored ::needs_"
            $(#[$attr])* $body);
    };
    (nginx: $(#[$attr:meta])* fn $name:ident() $body:block) => {
        crate::support::needs!(@ $name needs_nginx Nginx
            "needs nginx and systemd-socket-activate: cargo test -- --ignored ::needs_"
            $(#[$attr])* $body);
    };
    (@ $name:ident $test:ident $need:ident $reason:literal $(#[$attr:meta])* $body:block) => {
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            #[ignore = $reason]
            fn $test() {
                crate::support::needs::need(crate::support::needs::Need::$need);
                $body
            }
        }
    };
}
pub(crate) use needs;
