//! Files that other users may control: the database, the config, secret files
//! and `status --output` pass the StrictModes check, are opened only when they
//! are regular files (a FIFO never blocks), and are created exclusively.
//!
//! Tests that plant files owned by another user (`nobody`) need root: they are
//! `needs! { root: }` tests (see `support::needs`).

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Env, Run, SECRET, StandIn, needs};

const APPID: &str = "wx85871939f7f9b647";

fn chown_nobody(path: &Path) {
    let ok = Command::new("chown")
        .args(["-h", "nobody"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown nobody {}", path.display());
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs `cmd`, failing the test if it has not ended after 5 seconds (it is
/// killed then): a FIFO must be refused, not waited on.
#[track_caller]
fn within_5s(mut cmd: Command) -> Run {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} blocked for 5 s: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run(child.wait_with_output().unwrap())
}

/// An environment with a database holding a token for the app `shop`, and
/// what `show` prints.
fn with_token(up: &StandIn) -> (Env, String) {
    let env = Env::with(up);
    env.refresh(&["--name", "shop"]).expect(0);
    let token = env.run(&["show"]).expect(0).stdout();
    (env, token)
}

/// Every command that opens the database.
const COMMANDS: [&[&str]; 5] = [
    &["show"],
    &["status"],
    &["history"],
    &["invalidate", "--app", "shop"],
    &["refresh", "--appid", APPID, "--name", "shop"],
];

#[test]
fn a_fifo_at_the_database_path_is_refused_at_once() {
    let env = Env::new();
    std::fs::create_dir(env.db.parent().unwrap()).unwrap();
    chmod(env.db.parent().unwrap(), 0o700);
    mkfifo(&env.db);
    for args in COMMANDS {
        within_5s(env.command(args))
            .expect(2)
            .stderr_has(&format!("database {} is a FIFO", env.db.display()));
    }
}

#[test]
fn refresh_never_creates_the_database_through_a_link() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::create_dir(env.db.parent().unwrap()).unwrap();
    let victim = elsewhere.join("victim.db");
    symlink(&victim, &env.db).unwrap();
    env.refresh(&[])
        .expect(2)
        .stderr_has("is a symbolic link to a file that does not exist");
    assert!(!victim.exists(), "refresh created {}", victim.display());
    assert!(up.requests().is_empty(), "nothing was fetched");
}

#[test]
fn a_database_folder_writable_by_others_is_refused() {
    let up = StandIn::wechat();
    let (env, token) = with_token(&up);
    let dir = env.db.parent().unwrap();
    chmod(dir, 0o777);
    for args in COMMANDS {
        env.run(args)
            .expect(2)
            .stderr_has(&format!(
                "database {}: folder {}",
                env.db.display(),
                dir.display()
            ))
            .stderr_has("mode 0777) is writable by group and others")
            .stderr_has(&format!("`chmod go-w {}`", dir.display()));
    }
    chmod(dir, 0o755);
    assert_eq!(env.run(&["show"]).expect(0).stdout(), token);
}

#[test]
fn a_database_file_writable_by_its_group_is_refused() {
    let up = StandIn::wechat();
    let (env, _) = with_token(&up);
    chmod(&env.db, 0o660);
    env.run(&["show"])
        .expect(2)
        .stderr_has(&format!("file {} (owner ", env.db.display()))
        .stderr_has("mode 0660) is writable by group:");
}

#[test]
fn a_link_loop_at_the_database_path_is_refused() {
    let env = Env::new();
    std::fs::create_dir(env.db.parent().unwrap()).unwrap();
    symlink(&env.db, &env.db).unwrap();
    env.run(&["show"])
        .expect(2)
        .stderr_has("more than 40 symbolic links");
}

needs! {
    root:
    fn a_database_folder_of_another_user_is_refused() {
        let up = StandIn::wechat();
        let (env, _) = with_token(&up);
        let dir = env.db.parent().unwrap();
        chown_nobody(dir);
        for args in COMMANDS {
            env.run(args)
                .expect(2)
                .stderr_has(&format!(
                    "folder {} (owner nobody, uid 65534, mode 0700) belongs to none of",
                    dir.display()
                ))
                .stderr_has(&format!("`chown root {}`", dir.display()));
        }
    }
}

needs! {
    root:
    fn a_link_of_another_user_to_the_database_is_refused() {
        let up = StandIn::wechat();
        let (env, token) = with_token(&up);
        let link = env.path("link.db");
        symlink(&env.db, &link).unwrap();
        let show = |env: &Env| env.run(&["--db", link.to_str().unwrap(), "show"]);
        assert_eq!(show(&env).expect(0).stdout(), token, "root's own link");
        chown_nobody(&link);
        show(&env)
            .expect(2)
            .stderr_has(&format!(
                "symbolic link {} (owner nobody, uid 65534, mode 0777) belongs",
                link.display()
            ))
            .stderr_has("chown -h root");
    }
}

needs! {
    root:
    /// In a sticky folder (such as /tmp) anyone may create entries but not touch
    /// those of others: an entry of root's is trusted, one of another user's is not.
    fn a_sticky_folder_is_trusted_for_entries_of_trusted_users_only() {
        let up = StandIn::wechat();
        let (env, token) = with_token(&up);
        let sticky = env.path("shared");
        std::fs::create_dir(&sticky).unwrap();
        chmod(&sticky, 0o1777);
        for who in ["mine", "theirs"] {
            std::fs::create_dir(sticky.join(who)).unwrap();
            std::fs::copy(&env.db, sticky.join(who).join("tokens.db")).unwrap();
        }
        chown_nobody(&sticky.join("theirs"));
        let show = |who: &str| {
            let db = sticky.join(who).join("tokens.db");
            env.run(&["--db", db.to_str().unwrap(), "show"])
        };
        assert_eq!(show("mine").expect(0).stdout(), token);
        show("theirs")
            .expect(2)
            .stderr_has("theirs (owner nobody, uid 65534, mode 0755) belongs to none of");
        chmod(&sticky, 0o777);
        show("mine")
            .expect(2)
            .stderr_has("shared (owner root, mode 0777) is writable by group and others");
    }
}

needs! {
    root:
    /// The documented set-up: the `wxtoken` user (here: nobody) owns the folder and
    /// the file; root reads them (and so does a reader in their group, tested in
    /// refresh_show.rs).
    fn a_database_of_its_own_user_is_read_by_root() {
        let up = StandIn::wechat();
        let (env, token) = with_token(&up);
        let dir = env.db.parent().unwrap();
        for suffix in ["", "-wal", "-shm"] {
            chown_nobody(Path::new(&format!("{}{suffix}", env.db.display())));
        }
        chown_nobody(dir);
        chmod(dir, 0o750);
        chmod(&env.db, 0o640);
        assert_eq!(env.run(&["show"]).expect(0).stdout(), token);
    }
}

/// `status --output` behind a link planted at the temporary name the old code
/// used (`.NAME.PID.tmp`): the shell plants it with its own PID, then becomes
/// wxtoken (exec keeps the PID).
#[test]
fn status_output_does_not_write_through_a_planted_link() {
    let env = Env::new();
    let dir = env.path("textfile");
    std::fs::create_dir(&dir).unwrap();
    let victim = env.path("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let base = env.command(&[]);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ln -s "$VICTIM" "$DIR/.wxtoken.prom.$$.tmp" && exec "$BIN" status --format prometheus --output "$DIR/wxtoken.prom""#);
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.env("BIN", base.get_program())
        .env("DIR", &dir)
        .env("VICTIM", &victim);
    let out: Output = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let written = std::fs::symlink_metadata(dir.join("wxtoken.prom")).unwrap();
    assert!(written.is_file(), "a new file, not the link");
    assert_eq!(written.mode() & 0o022, 0, "not writable by others");
}

#[test]
fn status_output_into_a_folder_writable_by_others_is_refused() {
    let env = Env::new();
    let dir = env.path("textfile");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o777);
    let out = dir.join("wxtoken.prom");
    env.run(&["status", "--output", out.to_str().unwrap()])
        .expect(2)
        .stderr_has(&format!(
            "--output {}: folder {}",
            out.display(),
            dir.display()
        ))
        .stderr_has("chmod go-w");
    assert!(!out.exists());
}

/// `refresh --secret-file PATH`, without WXTOKEN_SECRET.
fn refresh_with_secret_file(env: &Env, path: &Path) -> Command {
    let mut cmd = env.command(&[
        "refresh",
        "--appid",
        APPID,
        "--secret-file",
        path.to_str().unwrap(),
    ]);
    cmd.env_remove("WXTOKEN_SECRET");
    cmd
}

#[test]
fn a_fifo_secret_file_is_refused_at_once() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    let fifo = env.path("app.secret");
    mkfifo(&fifo);
    within_5s(refresh_with_secret_file(&env, &fifo))
        .expect(2)
        .stderr_has(&format!("secret_file {} is a FIFO", fifo.display()));
    // From a config file too.
    let config = env.path("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[app]]\nname = \"a\"\nappid = \"x\"\nsecret_file = \"{}\"\n",
            fifo.display()
        ),
    )
    .unwrap();
    within_5s(env.command(&["--config", config.to_str().unwrap(), "refresh"]))
        .expect(2)
        .stderr_has("is a FIFO");
    assert!(up.requests().is_empty());
}

#[test]
fn an_oversized_secret_is_refused() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    let big = "x".repeat(70_000);
    let file = env.path("big.secret");
    std::fs::write(&file, &big).unwrap();
    chmod(&file, 0o600);
    within_5s(refresh_with_secret_file(&env, &file))
        .expect(2)
        .stderr_has(&format!(
            "secret_file {} is larger than 4096 bytes",
            file.display()
        ));
    let mut cmd = env.command(&["refresh", "--appid", APPID]);
    cmd.env("WXTOKEN_SECRET", &big);
    within_5s(cmd)
        .expect(2)
        .stderr_has("WXTOKEN_SECRET holds 70000 bytes, more than 4096");
    let config = env.path("config.toml");
    std::fs::write(
        &config,
        "[[app]]\nname = \"a\"\nappid = \"x\"\nsecret_env = \"BIG\"\n",
    )
    .unwrap();
    let mut cmd = env.command(&["--config", config.to_str().unwrap(), "refresh"]);
    cmd.env("BIG", &big);
    within_5s(cmd)
        .expect(2)
        .stderr_has("app \"a\": BIG holds 70000 bytes");
    assert!(up.requests().is_empty());
}

#[test]
fn a_secret_file_from_a_windows_editor_is_read() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    let file = env.path("app.secret");
    std::fs::write(&file, format!("\u{feff}{SECRET}\r\n")).unwrap();
    chmod(&file, 0o600);
    within_5s(refresh_with_secret_file(&env, &file)).expect(0);
    assert_eq!(up.requests()[0].query["secret"], SECRET);
}

#[test]
fn a_secret_file_in_a_folder_writable_by_others_is_refused() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    let dir = env.path("secrets");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o777);
    let file = dir.join("app.secret");
    std::fs::write(&file, SECRET).unwrap();
    chmod(&file, 0o600);
    refresh_with_secret_file(&env, &file)
        .output()
        .map(Run)
        .unwrap()
        .expect(2)
        .stderr_has(&format!(
            "secret_file {}: folder {}",
            file.display(),
            dir.display()
        ))
        .stderr_has("chmod go-w");
    assert!(up.requests().is_empty());
}

needs! {
    root:
    fn a_secret_file_in_a_folder_of_another_user_is_refused() {
        let up = StandIn::wechat();
        let env = Env::with(&up);
        let dir = env.path("secrets");
        std::fs::create_dir(&dir).unwrap();
        let file = dir.join("app.secret");
        std::fs::write(&file, SECRET).unwrap();
        chmod(&file, 0o600);
        chown_nobody(&dir);
        refresh_with_secret_file(&env, &file)
            .output()
            .map(Run)
            .unwrap()
            .expect(2)
            .stderr_has(&format!(
                "folder {} (owner nobody, uid 65534, mode 0755) belongs",
                dir.display()
            ));
        assert!(up.requests().is_empty());
    }
}

#[test]
fn a_config_writable_by_others_is_refused() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.config_apps(&["shop"], "");
    let config = env.path("config.toml");
    chmod(&config, 0o666);
    for args in [&["refresh"][..], &["status"]] {
        env.run(args)
            .expect(2)
            .stderr_has(&format!(
                "config {}: file {}",
                config.display(),
                config.display()
            ))
            .stderr_has("writable by group and others");
    }
    assert!(up.requests().is_empty());
    chmod(&config, 0o644);
    env.run(&["refresh"]).expect(0);
}

/// SQLite's files beside the database (`-wal`, `-shm`, `-journal`) are opened
/// by name: a FIFO or a link planted there is refused at once, by every command,
/// and nothing is written through the link.
#[test]
fn a_fifo_or_link_beside_the_database_is_refused() {
    let up = StandIn::wechat();
    let (env, _) = with_token(&up);
    let side = |suffix: &str| {
        let mut name = env.db.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    let shm = side("-shm");
    let _ = std::fs::remove_file(&shm);
    mkfifo(&shm);
    for args in COMMANDS {
        within_5s(env.command(args))
            .expect(2)
            .stderr_has(&format!("database file {} is a FIFO", shm.display()));
    }
    std::fs::remove_file(&shm).unwrap();
    let victim = env.path("victim");
    std::fs::write(&victim, "untouched").unwrap();
    let journal = side("-journal");
    symlink(&victim, &journal).unwrap();
    for args in COMMANDS {
        within_5s(env.command(args)).expect(2).stderr_has(&format!(
            "database file {} is a symbolic link",
            journal.display()
        ));
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    std::fs::remove_file(&journal).unwrap();
    env.run(&["show"]).expect(0);
}

needs! {
    root:
    /// In a sticky folder another user may create the database's `-wal` before its
    /// first writer: SQLite would read their frames as the database's. Refused.
    fn a_wal_of_another_user_beside_the_database_is_refused() {
        let up = StandIn::wechat();
        let (env, token) = with_token(&up);
        let sticky = env.path("shared");
        std::fs::create_dir(&sticky).unwrap();
        chmod(&sticky, 0o1777);
        let db = sticky.join("tokens.db");
        std::fs::copy(&env.db, &db).unwrap();
        let show = || within_5s(env.command(&["--db", db.to_str().unwrap(), "show"]));
        assert_eq!(show().expect(0).stdout(), token);
        let wal = sticky.join("tokens.db-wal");
        let _ = std::fs::remove_file(&wal);
        std::fs::write(&wal, b"").unwrap();
        chown_nobody(&wal);
        show()
            .expect(2)
            .stderr_has("tokens.db-wal (owner nobody, uid 65534, mode 0644) belongs to none of");
    }
}

needs! {
    runuser:
    /// wxtoken run by a user other than root, its config and database in a
    /// folder of its own: what belongs to the running user is trusted.
    fn the_running_users_own_files_are_trusted() {
        let up = StandIn::wechat();
        let mut env = Env::with(&up);
        chmod(env.dir.path(), 0o755);
        let home = env.path("home");
        std::fs::create_dir(&home).unwrap();
        chmod(&home, 0o700);
        let config = home.join("config.toml");
        std::fs::write(
            &config,
            format!("[[app]]\nname = \"shop\"\nappid = \"{APPID}\"\nsecret_env = \"S\"\n"),
        )
        .unwrap();
        chmod(&config, 0o600);
        chown_nobody(&config);
        chown_nobody(&home);
        let db = home.join("tokens.db");
        env.set("WXTOKEN_CONFIG", config.to_str().unwrap());
        env.set("WXTOKEN_DB", db.to_str().unwrap());
        env.set("S", SECRET);
        let cmd = env.command(&["refresh"]);
        // The build's binary may sit where nobody cannot go: a copy here.
        let program = env.path("wxtoken");
        std::fs::copy(cmd.get_program(), &program).unwrap();
        let envs: Vec<String> = cmd
            .get_envs()
            .filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v?.to_str()?)))
            .collect();
        let out = Command::new("runuser")
            .args(["-u", "nobody", "--", "env"])
            .args(&envs)
            .arg(&program)
            .arg("refresh")
            .current_dir("/")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(up.count("/cgi-bin/token"), 1);
        assert_eq!(
            std::fs::metadata(&db).unwrap().uid(),
            std::fs::metadata(&home).unwrap().uid(),
            "the database is nobody's"
        );
    }
}
