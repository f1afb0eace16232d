//! Build steps of the package: link flags for its programs, and wxtoken's
//! manual pages and shell completions.
//!
//! Relative relocations packed (`-z pack-relative-relocs`, DT_RELR): the
//! dynamic loader applies wxtoken's some 15,000 relative relocations from a
//! bitmap instead of a 24-byte entry each, which is most of what it does
//! before `main` (a `show` is a few milliseconds, the loader a third of its
//! instructions). The linker leaves the flag out (with a warning) where it
//! does not know it, and glibc 2.36 or later reads the packed form.
//!
//! The manual pages and completions are made here from `src/cli.rs` itself
//! (`build/docs.rs`), written into `OUT_DIR/docs.rs` as text that
//! `cmd/docs.rs` prints: the binary carries no generator (clap_mangen,
//! clap_complete, roff). `cli.rs` imports two enums and two checks from the
//! rest of wxtoken; the stand-ins below give clap the same values and help,
//! which a test checks (`src/cmd/docs/tests.rs`).

use std::fmt::Write as _;

use clap::CommandFactory;
use clap_complete::Shell;

#[allow(dead_code, unused_imports)]
#[path = "src/cli.rs"]
mod cli;

#[path = "build/docs.rs"]
mod docs;

/// `crate::app`'s enums as the command line shows them (`src/graph.rs`).
mod app {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
    pub enum Api {
        /// Official Account / Mini Program: GET /cgi-bin/token (2000 calls a day)
        Classic,
        /// Official Account / Mini Program: POST /cgi-bin/stable_token
        Stable,
        /// WeCom: GET /cgi-bin/gettoken with corpid and corpsecret
        Wecom,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
    pub enum Ticket {
        /// JS-SDK ticket (wx.config)
        Jsapi,
        /// card ticket (classic and stable apps)
        #[value(name = "wx_card")]
        WxCard,
        /// WeCom app ticket (wx.agentConfig)
        #[value(name = "agent_config")]
        AgentConfig,
    }
}

/// The value checks `cli.rs` names: pages and completions never parse.
mod duration {
    pub fn parse(_: &str) -> Result<std::time::Duration, String> {
        unreachable!("the build parses no command line")
    }
}

mod upstream {
    pub const MAX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=src/cli");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os == "linux" && target_env == "gnu" {
        println!("cargo:rustc-link-arg=-Wl,-z,pack-relative-relocs");
    }

    let mut out = String::from("/// `wxtoken man DIR`'s files: (name, roff text).\n");
    out.push_str("pub const MAN_PAGES: &[(&str, &str)] = &[\n");
    for (name, page) in docs::man_pages(cli::Cli::command()) {
        writeln!(out, "    ({name:?}, {page:?}),").unwrap();
    }
    out.push_str("];\n");
    for (name, shell) in [
        ("BASH", Shell::Bash),
        ("ZSH", Shell::Zsh),
        ("FISH", Shell::Fish),
    ] {
        let script = docs::completion(cli::Cli::command(), shell);
        writeln!(out, "/// `wxtoken completions {shell}`.").unwrap();
        writeln!(out, "pub const {name}: &str = {script:?};").unwrap();
    }
    let path = std::path::Path::new(&std::env::var_os("OUT_DIR").unwrap()).join("docs.rs");
    std::fs::write(path, out).unwrap();
}
