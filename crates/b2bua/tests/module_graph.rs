//! pn-b2bua's modules form no import circle, and the parts of a call (IVR collection, tones and
//! recording, PRACK, session timers, media, the transaction tables) use neither the call nor the
//! engine. Reads the crate's own `src/` at test time: a `use crate::…` that closes a circle fails here.
//!
//! A module is a top-level file or directory of `src/` (`engine/ivr.rs` counts as `engine`); the
//! crate root counts only for what it defines itself (its `mod` and `pub use` lines are the facade).
//! Code from the first `#[cfg(test)]` of a file on, and `src/tests/`, are not looked at.

// A test reading its own sources: a missing file is a failed test.
#![allow(clippy::unwrap_used, clippy::case_sensitive_file_extension_comparisons)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The parts: state structs the call drives. They may not use these modules.
const PARTS: [&str; 6] = ["ivr", "tones", "prack", "session_timer", "transactions", "media"];
const ABOVE_PARTS: [&str; 2] = ["call", "engine"];

fn collect(dir: &Path, root: &Path, files: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if path.is_dir() {
            if rel != "tests" {
                collect(&path, root, files);
            }
        } else if rel.ends_with(".rs") {
            let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
            let module = if top == "lib" { "lib" } else { top };
            files.push((module.to_owned(), fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The first path segment of each item of a `crate::` reference (`{a::X, B}` gives `a`, `B`).
fn segments(after: &str) -> Vec<String> {
    if let Some(group) = after.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut current = String::new();
        for ch in group.chars() {
            match ch {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => items.push(std::mem::take(&mut current)),
                _ => {}
            }
            if depth > 0 || !matches!(ch, ',' | '}') {
                current.push(ch);
            }
        }
        items.push(current);
        items.iter().filter_map(|i| first_ident(i.trim())).collect()
    } else {
        first_ident(after).into_iter().collect()
    }
}

fn first_ident(s: &str) -> Option<String> {
    let ident: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!ident.is_empty()).then_some(ident)
}

/// Code only: no comments, nothing from the first `#[cfg(test)]` on.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            if lines.peek().is_some_and(|next| next.trim_end().ends_with('{')) {
                break; // the inline test module, at the bottom
            }
            lines.next(); // `mod tests;`: the tests live elsewhere
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    collect(src, src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    // The root's re-exports: `pub use m::{A, B};` maps A and B to m.
    let mut reexports = BTreeMap::new();
    let lib = &files.iter().find(|(m, _)| m == "lib").unwrap().1;
    for stmt in code(lib).split(';') {
        let stmt = stmt.trim();
        if let Some(rest) = stmt.strip_prefix("pub use ") {
            if let Some((module, names)) = rest.split_once("::") {
                for name in segments(names.trim()) {
                    reexports.insert(name, module.to_owned());
                }
            }
        }
    }
    let mut g: Graph = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for (module, text) in &files {
        let mut body = code(text);
        if module == "lib" {
            body = body
                .split(';')
                .filter(|s| {
                    let s = s.trim_start();
                    !(s.starts_with("pub use ") || s.starts_with("mod ") || s.starts_with("pub mod "))
                })
                .collect::<Vec<_>>()
                .join(";");
        }
        let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
        let flat = flat.replace(":: ", "::").replace("{ ", "{");
        for (i, _) in flat.match_indices("crate::") {
            if flat[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue; // `pn_crate::` and the like
            }
            for name in segments(&flat[i + "crate::".len()..]) {
                let target = if modules.contains(&name) {
                    name
                } else {
                    reexports.get(&name).cloned().unwrap_or_else(|| "lib".to_owned())
                };
                if &target != module {
                    g.get_mut(module).unwrap().insert(target);
                }
            }
        }
    }
    g
}

/// A circle of `g`, if any (as a path whose first and last module are the same).
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        node: &str,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|n| n == node).unwrap();
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in g.get(node).into_iter().flatten() {
            if let Some(c) = visit(g, next, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    g.keys().find_map(|n| visit(g, n, &mut state, &mut Vec::new()))
}

fn crate_graph() -> Graph {
    graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn no_import_circle_among_modules() {
    let g = crate_graph();
    for (m, uses) in &g {
        let list: Vec<_> = uses.iter().map(String::as_str).collect();
        println!("{m} -> {}", list.join(", "));
    }
    assert!(g.len() > 10, "the crate's modules were not found: {g:?}");
    assert!(g["engine"].contains("call"), "the engine drives calls: {g:?}");
    if let Some(cycle) = find_cycle(&g) {
        panic!("import circle: {}", cycle.join(" -> "));
    }
}

#[test]
fn parts_use_neither_the_call_nor_the_engine() {
    let g = crate_graph();
    for part in PARTS {
        let uses = &g[part];
        for above in ABOVE_PARTS {
            assert!(!uses.contains(above), "{part} uses {above}: {uses:?}");
        }
    }
}

#[test]
fn the_checker_sees_a_circle_and_grouped_uses() {
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default();
    assert_eq!(find_cycle(&g), None);
    g.get_mut("c").unwrap().insert("a".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        segments("{call::{Call, Phase}, Peer, tables::x}"),
        ["call", "Peer", "tables"]
    );
    assert_eq!(segments("engine::B2bua;"), ["engine"]);
}
