//! The manual pages and shell completions, made from the command line's clap
//! definitions (`src/cli.rs`) when wxtoken is built: `build.rs` runs these
//! functions and the binary carries their text (`cmd/docs.rs`), none of the
//! code that writes it. The tests run them on the binary's own `Cli::command()`
//! and compare (`src/cmd/docs/tests.rs`).
//!
//! Each command's page is clap_mangen's sections, its examples under EXAMPLES,
//! then the sections every page shares (ENVIRONMENT, EXIT STATUS, FILES, SEE
//! ALSO); `wxtoken.toml(5)` describes the config file. Completions leave out
//! hidden commands and complete no file names where a value is not a path.

use clap::{Command, ValueHint};
use clap_complete::Shell;
use clap_mangen::Man;

/// The config file's page, written as roff.
const CONFIG_PAGE: &str = include_str!("wxtoken.toml.5");

/// What every command's page ends with.
const SHARED: &str = r#".SH ENVIRONMENT
.TP
\fBWXTOKEN_DB\fR
The database, as \fB\-\-db\fR: a SQLite file, or a \fBpostgres://\fR URL (put
a URL with a password here rather than on the command line, which \fBps\fR shows).
.TP
\fBWXTOKEN_CONFIG\fR
The config file, as \fB\-\-config\fR; see \fBwxtoken.toml\fR(5).
.TP
\fBWXTOKEN_API_BASE\fR
The upstream base URL for every app, as \fB\-\-api\-base\fR (a proxy, or a
local stand\-in).
.TP
\fBWXTOKEN_SECRET\fR
The secret of the one app of \fBrefresh \-\-appid\fR, unless
\fB\-\-secret\-file\fR names a file. Never on the command line.
.TP
\fBWXTOKEN_ALLOW_INSECURE_HTTP\fR
\fB1\fR: let every app's secret go over plain \fBhttp://\fR to a host other
than this one (a proxy on a network you trust).
.TP
\fBCREDENTIALS_DIRECTORY\fR
Set by systemd for a unit with \fBLoadCredential=NAME:PATH\fR: a config's
\fBsecret_credential = "NAME"\fR reads the file NAME there. Outside such a
unit, a secret_credential is an error (exit 2).
.TP
\fBRUST_LOG\fR
What is logged on stderr (\fBwarn\fR by default; \fB\-v\fR, \fB\-q\fR).
.TP
\fBHTTPS_PROXY\fR, \fBALL_PROXY\fR, \fBHTTP_PROXY\fR, \fBNO_PROXY\fR
A proxy for upstream calls (\fBhttp://\fR, \fBhttps://\fR or \fBsocks5://\fR),
and the hosts that bypass it. Never used by \fBpush\fR as a CGI program.
.TP
\fBSSL_CERT_FILE\fR, \fBSSL_CERT_DIR\fR
The CAs trusted for upstream calls and PostgreSQL's TLS, instead of the system's.
.TP
\fBPGPASSWORD\fR, \fBPGPASSFILE\fR
The password of a PostgreSQL URL without one, as libpq reads them.
.TP
\fBXDG_DATA_HOME\fR, \fBXDG_CONFIG_HOME\fR, \fBHOME\fR
Where the user's own database and config are (see FILES).
.TP
\fBNO_COLOR\fR
Set: \fBstatus\fR prints no colours on a terminal.
.TP
\fBGATEWAY_INTERFACE\fR, \fBQUERY_STRING\fR, \fBREQUEST_METHOD\fR, \fBCONTENT_LENGTH\fR
Set by a web server: \fBpush\fR (and \fBauthorizers add\fR) run as CGI programs.
.SH "EXIT STATUS"
.TP
\fB0\fR
Success (\fBrefresh\fR: every app ends with a valid token).
.TP
\fB1\fR
Failure: upstream refused, the network, the database (also a database whose
folder the reader may not enter: join its group).
.TP
\fB2\fR
A usage or configuration error: a bad flag, a missing secret, an unknown app,
an unreadable or untrusted config, database or secret file.
.TP
\fB3\fR
\fBshow\fR, \fBsign\fR and \fBhistory \-\-app\fR: no valid token stored for
that app now (never fetched, no database yet, expired, invalidated, or less
than \fB\-\-min\-ttl\fR left), or no such app.
.SH FILES
.TP
\fI~/.local/share/wxtoken/tokens.db\fR
The user's own database (\fB$XDG_DATA_HOME/wxtoken/tokens.db\fR): the default
when it exists, and where \fBrefresh\fR creates one.
.TP
\fI/var/lib/wxtoken/tokens.db\fR
The package's database (the \fBwxtoken\fR user's; its group may read it): the
default for a user who has none of their own.
.TP
\fI~/.config/wxtoken/config.toml\fR
The user's own config (\fB$XDG_CONFIG_HOME/wxtoken/config.toml\fR): the
default when it exists.
.TP
\fI/etc/wxtoken/config.toml\fR
The package's config, which \fBwxtoken\-refresh.service\fR reads; the default
for a user who has none of their own.
.TP
\fI/usr/lib/systemd/system/wxtoken\-refresh.timer\fR, \fIwxtoken\-refresh.service\fR
The timer (off until enabled) and the hardened unit that runs \fBrefresh\fR.
.TP
\fI/usr/share/doc/wxtoken/\fR
The README and docs/ (one page per question), the schema, \fBcrontab.example\fR and the alerting rules.
.SH "SEE ALSO"
\fBwxtoken\fR(1), \fBwxtoken\-refresh\fR(1), \fBwxtoken\-show\fR(1),
\fBwxtoken\-status\fR(1), \fBwxtoken.toml\fR(5), \fBsystemd.exec\fR(5)
(\fBLoadCredential=\fR), \fBcrontab\fR(5)
"#;

/// Every visible command's page, named as clap_mangen's `generate_to` names
/// them, and `wxtoken.toml.5`: (file name, roff text).
pub fn man_pages(cmd: Command) -> Vec<(String, String)> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    command_pages(cmd, &mut pages);
    pages.push(("wxtoken.toml.5".to_string(), CONFIG_PAGE.to_string()));
    pages
}

fn command_pages(cmd: Command, pages: &mut Vec<(String, String)>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        command_pages(sub, pages);
    }
    let has_args = cmd.get_arguments().any(|a| !a.is_hide_set());
    let has_subcommands = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let has_examples = cmd.get_after_help().is_some();
    let man = Man::new(cmd);
    let mut page = Vec::new();
    let written = "writing into memory";
    man.render_title(&mut page).expect(written);
    man.render_name_section(&mut page).expect(written);
    man.render_synopsis_section(&mut page).expect(written);
    man.render_description_section(&mut page).expect(written);
    if has_args {
        man.render_options_section(&mut page).expect(written);
    }
    if has_subcommands {
        man.render_subcommands_section(&mut page).expect(written);
    }
    if has_examples {
        let mut extra = Vec::new();
        man.render_extra_section(&mut extra).expect(written);
        // As written in --help, one command a line: not filled as prose.
        let extra = String::from_utf8_lossy(&extra)
            .replacen(".SH EXTRA\n", ".SH EXAMPLES\n.nf\n", 1)
            .replacen("Examples:\n", "", 1);
        page.extend_from_slice(extra.as_bytes());
        page.extend_from_slice(b".fi\n");
    }
    page.extend_from_slice(SHARED.as_bytes());
    let page = String::from_utf8(page).expect("roff is text");
    pages.push((man.get_filename(), page));
}

/// The completion script for `shell`, as `wxtoken completions SHELL` prints it.
pub fn completion(cmd: Command, shell: Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut for_completion(cmd), "wxtoken", &mut script);
    String::from_utf8(script).expect("a completion script is text")
}

/// The values that name files or folders: the only ones completed as paths.
const PATHS: [&str; 7] = [
    "db",
    "config",
    "secret_file",
    "output",
    "path",
    "dir",
    "file",
];

/// `cmd` as completion scripts should know it: without hidden commands
/// (clap_complete lists them all), and with every value that is not a path
/// (an app's name, an appid, a duration) completed as nothing rather than as
/// file names.
fn for_completion(cmd: Command) -> Command {
    let mut shown = Command::new(cmd.get_name().to_string());
    for arg in cmd.get_arguments() {
        let mut arg = arg.clone();
        if arg.get_action().takes_values()
            && arg.get_value_hint() == ValueHint::Unknown
            && !PATHS.contains(&arg.get_id().as_str())
        {
            arg = arg.value_hint(ValueHint::Other);
        }
        shown = shown.arg(arg);
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        shown = shown.subcommand(for_completion(sub.clone()));
    }
    shown
}
