//! The layering of the modules, read from the sources: the invariants of
//! ARCHITECTURE.md ("Invariants"), each a test that fails when a change
//! breaks it. A module's imports are the `crate::NAME` paths its production
//! code names (comments, test files and `#[cfg(test)]` modules left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every production source file: its path under `src/` and its code, without
/// comments and without inline test modules.
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = vec![root.clone()];
    let mut out = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if !rel.ends_with(".rs") || rel.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.split("#[cfg(test)]\nmod ").next().unwrap_or_default();
            let code: Vec<&str> = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or_default())
                .collect();
            out.push((rel, code.join("\n")));
        }
    }
    out.sort();
    assert!(out.len() > 50, "the sources were not found: {}", out.len());
    out
}

/// The top-level module of a file: `cmd/push/inetd.rs` -> `cmd`.
fn top(rel: &str) -> String {
    let first = rel.split('/').next().unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules `code` names: `crate::a::..` and `crate::{a, b::c}`.
fn named(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for part in code.split("crate::").skip(1) {
        if let Some(group) = part.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or_default();
            for item in group.split(',') {
                let name = item.trim().split("::").next().unwrap_or_default();
                names.insert(name.trim().to_string());
            }
        } else {
            let end = part
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(part.len());
            names.insert(part[..end].to_string());
        }
    }
    names.retain(|n| !n.is_empty() && n != "self");
    names
}

/// Which top-level module imports which, and from which files.
fn imports() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut graph: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (rel, code) in sources() {
        let from = top(&rel);
        for to in named(&code).into_iter().filter(|to| *to != from) {
            let files = graph
                .entry(from.clone())
                .or_default()
                .entry(to)
                .or_default();
            files.push(rel.clone());
        }
    }
    graph
}

/// The files of `from` that import any of `forbidden`, as lines to print.
fn breaches(from: &[&str], forbidden: &[&str]) -> Vec<String> {
    let graph = imports();
    let mut out = Vec::new();
    for f in from {
        for (to, files) in graph.get(*f).into_iter().flatten() {
            if forbidden.contains(&to.as_str()) {
                out.push(format!("{f} imports {to}: {}", files.join(", ")));
            }
        }
    }
    out
}

#[test]
fn no_circles_between_top_level_modules() {
    let graph = imports();
    // A path back to the start, by depth-first search from each module.
    let mut circles = Vec::new();
    for start in graph.keys() {
        let mut stack = vec![vec![start.clone()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = path.last().unwrap();
            for next in graph.get(last).into_iter().flat_map(|m| m.keys()) {
                if next == start {
                    circles.push(format!("{} -> {start}", path.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles between top-level modules:\n{}",
        circles.join("\n")
    );
}

#[test]
fn lower_layers_never_import_the_commands() {
    let lower = [
        "engine", "platform", "store", "upstream", "graph", "config", "app",
    ];
    let found = breaches(&lower, &["cmd", "main"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The engine takes what the commands read: never the command line.
    let found = breaches(&["engine", "platform", "store", "upstream"], &["cli"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
    // Building blocks never call up into the engine.
    let found = breaches(
        &["platform", "store", "upstream", "graph", "config"],
        &["engine"],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn upstream_never_imports_config() {
    let found = breaches(&["upstream"], &["config"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_graph_is_the_only_source_of_kinds_and_lifetimes() {
    let mut found = Vec::new();
    for (rel, code) in sources() {
        if top(&rel) == "graph" {
            continue;
        }
        for line in code.lines() {
            let compact: String = line.split_whitespace().collect();
            // A kind's name written again (compared with, or a row's kind),
            // or a ticket's lifetime of its own.
            let kind_name = crate::graph::Kind::ALL.iter().any(|k| {
                let name = k.as_str();
                [
                    format!("==\"{name}\""),
                    format!("!=\"{name}\""),
                    format!("kind:\"{name}\""),
                ]
                .iter()
                .any(|p| compact.contains(p))
            });
            let lifetime = compact.contains("TICKET_LIFE");
            // A row's kind is read as a Kind once, in store/columns.rs.
            let parsed = compact.contains("Kind::parse(") && rel != "store/columns.rs";
            if kind_name || lifetime || parsed {
                found.push(format!("{rel}: {}", line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "kinds or lifetimes outside the graph:\n{}",
        found.join("\n")
    );
}

#[test]
fn show_opens_no_config_and_no_network() {
    let show = sources()
        .into_iter()
        .find(|(rel, _)| rel == "cmd/show.rs")
        .expect("cmd/show.rs")
        .1;
    let found: Vec<&str> = [
        "crate::upstream",
        "crate::engine",
        "crate::platform",
        "crate::tls_roots",
        "config::load",
        "config_path",
        "open_store",
        "store::open(",
        "logging::init",
    ]
    .into_iter()
    .filter(|name| show.contains(name))
    .collect();
    assert!(found.is_empty(), "cmd/show.rs names {found:?}");
}

#[test]
fn every_source_file_is_short_and_says_what_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = vec![root.clone()];
    let mut found = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().display().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let lines = text.lines().count();
            if lines > 450 {
                found.push(format!("{rel}: {lines} lines (at most 450)"));
            }
            if !rel.ends_with("tests.rs") && !text.starts_with("//!") {
                found.push(format!("{rel}: no module doc (`//!`) on its first line"));
            }
        }
    }
    found.sort();
    assert!(found.is_empty(), "{}", found.join("\n"));
}
