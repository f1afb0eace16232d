//! Every relative link of the README and `docs/` leads to a file, and to a
//! heading of it; `crontab.example` names pages and README sections that exist.

use std::path::Path;

use crate::doc_commands::{pages, root};

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings (outside fenced blocks).
fn anchors(path: &Path) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.push(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

#[test]
fn every_link_in_the_docs_leads_somewhere() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for (i, _) in text.match_indices("](") {
            let link: String = text[i + 2..].chars().take_while(|c| *c != ')').collect();
            if link.contains("://") || link.contains(' ') {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = match file {
                "" => page.clone(),
                file => page.parent().unwrap().join(file),
            };
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", page.display()));
            } else if !fragment.is_empty()
                && target.extension().is_some_and(|e| e == "md")
                && !anchors(&target).contains(&fragment.to_string())
            {
                broken.push(format!("{}: {link}: no such heading", page.display()));
            }
        }
    }
    // crontab.example names pages by path and README sections by heading.
    let crontab = std::fs::read_to_string(root().join("crontab.example")).unwrap();
    for (i, _) in crontab.match_indices("docs/") {
        let path: String = crontab[i..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || "/._-".contains(*c))
            .collect();
        let path = path.trim_end_matches('.');
        if !root().join(path).is_file() {
            broken.push(format!("crontab.example: {path}: no such file"));
        }
    }
    let readme = anchors(&root().join("README.md"));
    for (i, _) in crontab.match_indices("README, \"") {
        let heading: String = crontab[i + 9..].chars().take_while(|c| *c != '"').collect();
        if !readme.contains(&anchor(&heading)) {
            broken.push(format!(
                "crontab.example: README has no section {heading:?}"
            ));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
