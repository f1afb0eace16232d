//! What the package ships beside the binary: shell completions and manual
//! pages, generated from the command-line definitions; and the service's
//! secret from a systemd credential.

use crate::support::Env;

/// `completions bash` prints a script that bash loads and that completes the
/// commands; zsh and fish get theirs; another shell is a usage error.
#[test]
fn completions_for_bash_zsh_and_fish() {
    let env = Env::new();
    let bash = env.run(&["completions", "bash"]).expect(0).stdout();
    let script = format!(
        "{bash}\nCOMP_WORDS=(wxtoken re); COMP_CWORD=1; _wxtoken wxtoken re wxtoken; echo \"${{COMPREPLY[@]}}\""
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "refresh",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zsh = env.run(&["completions", "zsh"]).expect(0).stdout();
    assert!(zsh.starts_with("#compdef wxtoken"), "{zsh}");
    let fish = env.run(&["completions", "fish"]).expect(0).stdout();
    assert!(fish.contains("complete -c wxtoken"), "{fish}");
    env.run(&["completions", "tcsh"])
        .expect(2)
        .stderr_has("bash, zsh, fish");
}

/// `man DIR` writes wxtoken.1 and one page per command, with the options of
/// `--help`; a missing folder is a usage error.
#[test]
fn manual_pages_for_every_command() {
    let env = Env::new();
    let dir = env.path("man");
    std::fs::create_dir(&dir).unwrap();
    env.run(&["man", dir.to_str().unwrap()]).expect(0);
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            "wxtoken-completions.1",
            "wxtoken-history.1",
            "wxtoken-invalidate.1",
            "wxtoken-refresh.1",
            "wxtoken-show.1",
            "wxtoken-status.1",
            "wxtoken.1"
        ]
    );
    let refresh = std::fs::read_to_string(dir.join("wxtoken-refresh.1")).unwrap();
    assert!(refresh.contains(".TH wxtoken-refresh 1"), "{refresh}");
    assert!(refresh.contains("ahead"), "{refresh}");
    env.run(&["man", env.path("nowhere").to_str().unwrap()])
        .expect(2)
        .stderr_has("is not a folder");
}
