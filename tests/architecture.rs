//! Checks of the code's shape that a reviewer would otherwise have to
//! repeat on every change (docs/architecture.md states the rules):
//!
//! - no import cycle between files under `src/`: following every
//!   `use crate::…`, `use super::…`, `use self::…` and inline `crate::…` /
//!   `super::…` path of each file to the deepest file it names finds no
//!   loop (dependencies point from wiring into features and from features
//!   into leaf modules, never back);
//! - no file under `src/` longer than 600 lines.
//!
//! The path resolution is the one `shared/tools/file-cycles.py` uses, so
//! this test and that tool agree.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

const MAX_LINES: usize = 600;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` → `[a, b]`; `src/a/mod.rs` → `[a]`; `src/lib.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("file below src/");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The deepest existing file for a module path.
fn resolve(src: &Path, parts: &[String]) -> Option<PathBuf> {
    (1..=parts.len()).rev().find_map(|k| {
        let base = parts[..k].iter().fold(src.to_path_buf(), |p, s| p.join(s));
        let file = base.with_extension("rs");
        let dir_mod = base.join("mod.rs");
        [file, dir_mod].into_iter().find(|c| c.is_file())
    })
}

/// `a::{b, c::{d, e}}` → `[[a, b], [a, c, d], [a, c, e]]`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    let split = |s: &str| -> Vec<String> {
        s.split("::")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let Some(open) = tree.find('{') else {
        let name = tree.split(" as ").next().unwrap_or_default();
        return vec![split(name)];
    };
    let prefix = split(&tree[..open]);
    let close = tree.rfind('}').unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    let mut out = Vec::new();
    for item in items.into_iter().filter(|i| !i.trim().is_empty()) {
        for sub in expand(item) {
            out.push(prefix.iter().cloned().chain(sub).collect());
        }
    }
    if out.is_empty() {
        out.push(prefix);
    }
    out
}

/// Removes `//` comments (line and doc comments), which mention paths in prose.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths a file refers to: `use` trees rooted at `crate`,
/// `super` or `self`, and inline `crate::…` / `super::…` paths.
fn referenced_paths(text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("use ") {
        let before_ok = at == 0
            || !rest[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let after = &rest[at + 4..];
        let Some(end) = after.find(';') else { break };
        let tree = after[..end].trim();
        if before_ok
            && (tree.starts_with("crate::")
                || tree.starts_with("super::")
                || tree.starts_with("self::"))
        {
            paths.extend(expand(tree));
        }
        rest = &after[end..];
    }
    for root in ["crate::", "super::"] {
        let mut rest = text;
        while let Some(at) = rest.find(root) {
            let boundary = at == 0
                || !rest[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            let path: String = rest[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if boundary {
                let parts: Vec<String> = path
                    .split("::")
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                if parts.len() > 1 {
                    paths.push(parts);
                }
            }
            rest = &rest[at + root.len()..];
        }
    }
    paths
}

/// Edges between files, by the paths each names.
fn file_graph(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges = BTreeMap::new();
    for file in &files {
        let text = strip_comments(&std::fs::read_to_string(file).expect("readable source"));
        let me = module_path(src, file);
        let is_dir_mod = matches!(
            file.file_name().and_then(|n| n.to_str()),
            Some("mod.rs" | "lib.rs" | "main.rs")
        );
        // The module that contains this file's module.
        let parent: Vec<String> = if is_dir_mod {
            me.clone()
        } else {
            me[..me.len().saturating_sub(1)].to_vec()
        };
        let mut targets = BTreeSet::new();
        for path in referenced_paths(&text) {
            let full: Vec<String> = match path.first().map(String::as_str) {
                Some("crate") => path[1..].to_vec(),
                Some("self") => me
                    .iter()
                    .cloned()
                    .chain(path[1..].iter().cloned())
                    .collect(),
                Some("super") => {
                    let ups = path.iter().take_while(|p| *p == "super").count();
                    // One `super` names `parent`; each further one a level up.
                    let keep = parent.len().saturating_sub(ups - 1);
                    parent[..keep]
                        .iter()
                        .cloned()
                        .chain(path[ups..].iter().cloned())
                        .collect()
                }
                _ => continue,
            };
            if let Some(target) = resolve(src, &full)
                && &target != file
            {
                targets.insert(target);
            }
        }
        edges.insert(file.clone(), targets);
    }
    edges
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        next: usize,
        found: Vec<Vec<PathBuf>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a PathBuf) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.found
}

#[test]
fn no_import_cycle_between_files() {
    let src = src();
    let edges = file_graph(&src);
    assert!(
        edges.len() > 20,
        "found only {} files under src/",
        edges.len()
    );
    let rel = |p: &PathBuf| p.strip_prefix(&src).unwrap_or(p).display().to_string();
    let found: Vec<String> = cycles(&edges)
        .iter()
        .map(|c| {
            let arrows: Vec<String> = c
                .iter()
                .flat_map(|a| {
                    edges[a]
                        .iter()
                        .filter(|b| c.contains(b))
                        .map(move |b| format!("{} -> {}", rel(a), rel(b)))
                })
                .collect();
            format!("cycle of {} files: {}", c.len(), arrows.join("; "))
        })
        .collect();
    assert!(
        found.is_empty(),
        "import cycles between files under src/ (see docs/architecture.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_finds_a_cycle_and_resolves_paths() {
    // Two files naming each other, one through `super`, one through `crate`.
    let dir = std::env::temp_dir().join(format!("todoql-arch-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "pub mod b;\npub mod c;\n").unwrap();
    std::fs::write(
        src.join("a/b.rs"),
        "use super::c::{Thing, other::{X as Y}};\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a/c.rs"),
        "// crate::a::b in a comment does not count\nfn f() { crate::a::b::g(); }\n",
    )
    .unwrap();
    let edges = file_graph(&src);
    let found = cycles(&edges);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1, "{edges:?}");
    assert_eq!(found[0].len(), 2);
    assert_eq!(
        expand("a::{b, c::{d, e as f}}"),
        vec![
            vec!["a".to_owned(), "b".to_owned()],
            vec!["a".to_owned(), "c".to_owned(), "d".to_owned()],
            vec!["a".to_owned(), "c".to_owned(), "e".to_owned()],
        ]
    );
}

#[test]
fn no_source_file_over_600_lines() {
    let src = src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).ok()?.lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them by concern):\n{}",
        long.join("\n")
    );
}
