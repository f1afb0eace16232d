//! Every command the documentation shows is run here, so the docs cannot
//! drift from the program (the convention is written at the top of
//! `docs/README.md`):
//!
//! - a ```` ```sh ```` block runs, page by page in the order written, in one
//!   sandbox per page: a fresh folder as `HOME` and working folder, this
//!   build's `wxtoken` and `standin` first on `PATH` (as if installed) and in
//!   `./target/release/` (where the README's first command builds them), and
//!   a `cargo` that has nothing left to build (`cargo install` puts this
//!   build's `wxtoken` in `~/.cargo/bin`). The blocks of a page are one shell
//!   session, as a reader's terminal is: what a block exports, the next one
//!   has, and nothing else is given (no `WXTOKEN_*`: a page that wants the
//!   stand-in starts it). Each block must exit 0.
//! - a ```` ```sh no-run: REASON ```` block (root, systemd, a package, a real
//!   account, another host) must still parse (`bash -n`).
//! - a ```` ```toml ```` block is a config: `wxtoken status --config` must
//!   accept it (secrets are not read there); ```` ```toml no-run: REASON ````
//!   marks a fragment.
//! - a ```` ```cron ```` block's jobs run, after the page's blocks before it,
//!   as cron runs them: `sh -c`, only `HOME`, `LOGNAME`, `SHELL`,
//!   `PATH=/usr/bin:/bin` and the block's own variable lines, plus the one
//!   thing the sandbox must add, `WXTOKEN_API_BASE` pointing at a stand-in of
//!   WeChat. Each must exit 0. ```` ```cron no-run: REASON ````: the commands
//!   must parse.
//!
//! The links are checked in `doc_links`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One fenced block: its page, line, info string and text.
struct Block {
    page: String,
    line: usize,
    info: String,
    text: String,
}

pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The README and every page of `docs/`, sorted.
pub(crate) fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    if let Ok(dir) = std::fs::read_dir(root().join("docs")) {
        let mut docs: Vec<PathBuf> = dir
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        docs.sort();
        pages.extend(docs);
    }
    pages
}

fn blocks(page: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(page).unwrap();
    let name = page.strip_prefix(root()).unwrap().display().to_string();
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    page: name.clone(),
                    line: i + 1,
                    info: info.trim().to_string(),
                    text: String::new(),
                })
            }
            (Some(_), Some("")) => blocks.push(open.take().unwrap()),
            (Some(block), _) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{name}: a fenced block is not closed");
    blocks
}

/// `sh`, `sh no-run: REASON`: the language and whether it runs. A no-run
/// without a reason is refused.
fn kind(block: &Block) -> (&str, bool) {
    let (lang, rest) = block
        .info
        .split_once(' ')
        .unwrap_or((block.info.as_str(), ""));
    if rest.is_empty() {
        return (lang, true);
    }
    let reason = rest.strip_prefix("no-run:").map(str::trim);
    assert!(
        reason.is_some_and(|r| !r.is_empty()),
        "{}:{}: write ```{lang} no-run: REASON, not ```{}",
        block.page,
        block.line,
        block.info
    );
    (lang, false)
}

fn parses(block: &Block, script: &str) {
    let out = Command::new("bash")
        .args(["-n", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}:{}: does not parse: {}\n{script}",
        block.page,
        block.line,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A page's sandbox: its folder, the stand-in of WeChat its cron jobs
/// reach, and the process groups of its blocks (what a block left running in
/// the background, a detached stand-in, is ended with the page).
struct Sandbox {
    dir: tempfile::TempDir,
    standin: std::process::Child,
    url: String,
    groups: std::cell::RefCell<Vec<i32>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for group in self.groups.borrow().iter() {
            // SAFETY: a signal to a process group this test started.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.standin.kill();
        let _ = self.standin.wait();
    }
}

/// This build's `wxtoken` and `standin`, copied where `nobody` may run them
/// (the build's folder may be closed to it).
fn programs() -> (tempfile::TempDir, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let open = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(dir.path(), open.clone()).unwrap();
    let wxtoken = dir.path().join("wxtoken");
    let standin = dir.path().join("standin");
    std::fs::copy(env!("CARGO_BIN_EXE_wxtoken"), &wxtoken).unwrap();
    std::fs::copy(crate::platform_standin::example(), &standin).unwrap();
    for program in [&wxtoken, &standin] {
        std::fs::set_permissions(program, open.clone()).unwrap();
    }
    (dir, wxtoken, standin)
}

impl Sandbox {
    fn new(wxtoken: &Path, standin: &Path) -> Sandbox {
        use std::os::unix::fs::{PermissionsExt, symlink};
        // SAFETY: umask cannot fail; every test wants the same value.
        unsafe { libc::umask(0o022) };
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join(".bin");
        let release = dir.path().join("target/release/examples");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.path().join(".tmp")).unwrap();
        std::fs::create_dir_all(&release).unwrap();
        for (link, to) in [
            (bin.join("wxtoken"), wxtoken),
            (bin.join("standin"), standin),
            (dir.path().join("target/release/wxtoken"), wxtoken),
            (release.join("standin"), standin),
        ] {
            symlink(to, link).unwrap();
        }
        // The README's set-up commands build and test the project: the test
        // run that runs this has done both. `cargo install` installs this
        // build's wxtoken where cargo does.
        let cargo = bin.join("cargo");
        std::fs::write(
            &cargo,
            format!(
                "#!/bin/sh\ncase \"$*\" in\n  build*|test*) exit 0 ;;\n  install*--path*) mkdir -p \"$HOME/.cargo/bin\" && ln -sf {} \"$HOME/.cargo/bin/wxtoken\" ;;\n  *) echo \"cargo $*: not in the doc sandbox\" >&2; exit 1 ;;\nesac\n",
                wxtoken.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = Command::new(standin)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut url = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut url)
            .unwrap();
        if unsafe { libc::geteuid() } == 0 {
            let status = Command::new("chown")
                .args(["-R", "-h", "nobody:nogroup"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        Sandbox {
            dir,
            standin: child,
            url: url.trim().to_string(),
            groups: Default::default(),
        }
    }

    /// A block, in the page's shell session: the variables the blocks before
    /// it exported, and its own for the blocks after it.
    fn run(&self, block: &Block) -> Result<(), String> {
        let script = format!(
            "if [ -f ~/.doc-session ]; then . ~/.doc-session; fi\ntrap 'export -p > ~/.doc-session' EXIT\n{}",
            block.text
        );
        let out = self.output(self.shell().args(["-euo", "pipefail", "-c", &script]));
        self.outcome(block, &block.text, out)
    }

    /// A cron block's jobs, each as cron runs it, with what the page's blocks
    /// left behind (a config, a secret file, an installed program).
    fn cron(&self, block: &Block) -> Result<(), String> {
        let mut vars = vec![
            ("HOME".to_string(), self.dir.path().display().to_string()),
            ("LOGNAME".to_string(), "nobody".to_string()),
            ("SHELL".to_string(), "/bin/sh".to_string()),
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ];
        for line in block.text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((key, value)) = variable(line) {
                vars.push((key.to_string(), value.to_string()));
                continue;
            }
            let command: Vec<&str> = line.split_whitespace().skip(5).collect();
            let mut cmd = self.shell_as("env");
            cmd.arg("-i");
            for (key, value) in &vars {
                cmd.arg(format!("{key}={value}"));
            }
            cmd.arg(format!("WXTOKEN_API_BASE={}", self.url));
            // Cron's environment is the block's, but the package's paths stay
            // the sandbox's: a machine with the package installed changes nothing.
            let system = self.dir.path().join("sys");
            cmd.arg(format!("WXTOKEN_TEST_SYSTEM_ROOT={}", system.display()));
            cmd.args(["sh", "-c", &command.join(" ")]);
            self.outcome(block, line, self.output(&mut cmd))?;
        }
        Ok(())
    }

    /// bash, in the sandbox, as `nobody` when root.
    fn shell(&self) -> Command {
        self.shell_as("bash")
    }

    fn shell_as(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt;
        // As root (CI), a block runs as `nobody`: a block that should have
        // been marked no-run fails instead of changing the machine.
        let mut cmd = if unsafe { libc::geteuid() } == 0 {
            let mut cmd = Command::new("setpriv");
            cmd.args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                program,
            ]);
            cmd
        } else {
            Command::new(program)
        };
        for (key, _) in std::env::vars() {
            if key.starts_with("WXTOKEN_")
                || key.starts_with("XDG_")
                || key == "RUST_LOG"
                || key.to_ascii_lowercase().ends_with("_proxy")
            {
                cmd.env_remove(key);
            }
        }
        let path = format!(
            "{}:{}",
            self.dir.path().join(".bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // Temporary files (a detached stand-in's try-out database) go with
        // the sandbox.
        cmd.current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.dir.path().join(".tmp"))
            .env("PATH", path)
            .stdin(Stdio::null())
            .process_group(0);
        crate::support::hermetic(&mut cmd, self.dir.path());
        cmd
    }

    /// Runs `cmd` to its end, keeping its process group to end what it
    /// leaves running.
    fn output(&self, cmd: &mut Command) -> std::io::Result<std::process::Output> {
        let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        self.groups.borrow_mut().push(child.id() as i32);
        child.wait_with_output()
    }

    /// Ok when `out` is a success; else what ran and what it said.
    fn outcome(
        &self,
        block: &Block,
        ran: &str,
        out: std::io::Result<std::process::Output>,
    ) -> Result<(), String> {
        let out = out.unwrap();
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{}:{}: exit {:?}\n{ran}\nstdout: {}\nstderr: {}",
            block.page,
            block.line,
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A crontab's variable line (`NAME=value`): its name and value.
fn variable(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| (key, value.trim().trim_matches('"')))
}

/// A config block, as `wxtoken status --config` reads it.
fn loads(block: &Block, dir: &Path) -> Result<(), String> {
    let path = dir.join(format!("config-{}.toml", block.line));
    std::fs::write(&path, &block.text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxtoken"));
    crate::support::hermetic(&mut cmd, dir);
    let out = cmd
        .args(["--db", dir.join("config-check.db").to_str().unwrap()])
        .args(["status", "--config", path.to_str().unwrap()])
        .env_remove("WXTOKEN_API_BASE")
        .output()
        .unwrap();
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{}:{}: wxtoken refuses this config: {}\n{}",
        block.page,
        block.line,
        String::from_utf8_lossy(&out.stderr),
        block.text
    ))
}

#[test]
fn every_command_in_the_docs_runs() {
    let mut ran = 0;
    let mut failed = Vec::new();
    let (_programs, wxtoken, standin) = programs();
    // Configs are checked by this test's own user, in a folder of its own.
    let configs = tempfile::tempdir().unwrap();
    for page in pages() {
        let sandbox = Sandbox::new(&wxtoken, &standin);
        for block in blocks(&page) {
            let (lang, runs) = kind(&block);
            match lang {
                "sh" => {
                    parses(&block, &block.text);
                    if runs {
                        failed.extend(sandbox.run(&block).err());
                        ran += 1;
                    }
                }
                "toml" if runs => failed.extend(loads(&block, configs.path()).err()),
                "cron" => {
                    // The command of each job line (five time fields first).
                    for line in block.text.lines() {
                        let line = line.trim();
                        if line.is_empty() || line.starts_with('#') || variable(line).is_some() {
                            continue;
                        }
                        let command: Vec<&str> = line.split_whitespace().skip(5).collect();
                        parses(&block, &command.join(" "));
                    }
                    if runs {
                        failed.extend(sandbox.cron(&block).err());
                        ran += 1;
                    }
                }
                _ => {}
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    assert!(ran > 0, "no runnable block found");
}
