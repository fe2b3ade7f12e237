//! The layers of `src/` (docs/architecture.md): every module has a rank, and a module may
//! import only modules of a lower rank (or itself). Reads the sources: each `crate::…`,
//! `super::…` and `self::…` path outside comments and test code, `use` groups included,
//! resolved to the module it names. A new top-level module must be given a rank here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lowest first. A unit is a top-level module, or one of its submodules listed on its own
/// (the vocabulary the store persists sits below the store, the rest of `checkout` above it).
const RANKS: &[(&str, u8)] = &[
    // Leaves: values and tools every layer may use.
    ("ids", 0),
    ("clock", 0),
    ("digest", 0),
    ("card", 0),
    ("heartbeat", 0),
    ("metrics", 0),
    ("telemetry", 1),
    // The vocabulary: states, the checkout and order records, job records.
    ("checkout::state", 1),
    ("checkout::model", 2),
    ("jobs::model", 3),
    // The adapters.
    ("store", 4),
    ("upstream", 4),
    ("payment_crypto", 5),
    ("sandbox", 5),
    ("readiness", 5),
    ("liveness", 5),
    // What every use case is handed: the parts above, built once.
    ("context", 6),
    // The use cases, the background work, the API.
    ("checkout", 7),
    ("jobs", 8),
    ("http", 9),
    // The wiring: the only modules that read the whole configuration.
    ("config", 10),
    ("startup", 11),
    ("tools", 12),
    ("cli", 13),
];

fn rank(unit: &str) -> Option<u8> {
    RANKS.iter().find(|(u, _)| *u == unit).map(|(_, r)| *r)
}

/// The unit a module path (`["checkout", "driver"]`) belongs to.
fn unit_of(path: &[String]) -> Option<String> {
    let first = path.first()?;
    if let Some(second) = path.get(1) {
        let pair = format!("{first}::{second}");
        if rank(&pair).is_some() {
            return Some(pair);
        }
    }
    Some(first.clone())
}

/// The module path of a source file: `src/checkout/driver.rs` → `checkout::driver`,
/// `src/checkout/mod.rs` → `checkout`.
fn module_of(file: &Path, src: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" {
            parts.push(stem.to_owned());
        }
    }
    parts
}

/// The code a check reads: no comment lines, nothing from the first `#[cfg(test)]` on (test
/// modules close their files here, and may reach anywhere).
fn production_code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn ident_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len())
}

/// Every path starting at `crate`, `super` or `self` in `code`, as absolute module paths
/// (`module` is the file's own), with `use` groups expanded.
fn imported_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let starts_word = i == 0 || {
            let c = bytes[i - 1] as char;
            !(c.is_alphanumeric() || c == '_' || c == ':')
        };
        let root = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|r| rest.starts_with(r));
        match root {
            Some(root) if starts_word => {
                let mut base: Vec<String> = match root {
                    "crate::" => Vec::new(),
                    "super::" => module[..module.len().saturating_sub(1)].to_vec(),
                    _ => module.to_vec(),
                };
                let consumed = root.len() + expand(&rest[root.len()..], &mut base, &mut found);
                i += consumed;
            }
            _ => i += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    found
}

/// Reads `a::b::{c, d::e}` after a root whose path is `base`, pushing each full path; returns
/// the bytes read. `super::` segments climb.
fn expand(s: &str, base: &mut Vec<String>, found: &mut Vec<Vec<String>>) -> usize {
    let mut i = 0;
    loop {
        let rest = &s[i..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut end = 0;
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = k;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let inner = &group[..end];
            let mut depth = 0;
            let mut start = 0;
            let mut items = Vec::new();
            for (k, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&inner[start..k]);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            items.push(&inner[start..]);
            for item in items {
                let item = item.trim();
                if item.is_empty() || item == "self" || item == "*" {
                    found.push(base.clone());
                    continue;
                }
                let mut nested = base.clone();
                expand(item, &mut nested, found);
            }
            return i + 1 + end + 1;
        }
        let n = ident_len(rest);
        if n == 0 {
            found.push(base.clone());
            return i;
        }
        let segment = &rest[..n];
        if segment == "super" {
            base.pop();
        } else {
            base.push(segment.to_owned());
        }
        i += n;
        if s[i..].starts_with("::") {
            i += 2;
        } else {
            found.push(base.clone());
            return i;
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `file unit → imported unit` for each import that does not run downward.
fn upward_imports(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut problems = BTreeSet::new();
    for file in files {
        let module = module_of(&file, src);
        // The crate roots, and test files, may reach anything.
        if module.is_empty()
            || module == ["main"]
            || module == ["lib"]
            || module.last().is_some_and(|m| m == "tests")
        {
            continue;
        }
        let Some(unit) = unit_of(&module) else {
            continue;
        };
        let Some(own) = rank(&unit) else {
            problems.insert(format!("{}: module `{unit}` has no rank", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read file");
        for path in imported_paths(&production_code(&text), &module) {
            let Some(target) = unit_of(&path) else {
                continue;
            };
            if target == unit {
                continue;
            }
            match rank(&target) {
                Some(r) if r < own => {}
                Some(r) => {
                    problems.insert(format!(
                        "{}: `{unit}` (rank {own}) imports `{}` of `{target}` (rank {r})",
                        file.display(),
                        path.join("::")
                    ));
                }
                // An item of the crate root (none today) or a path this reader cannot place.
                None => {
                    problems.insert(format!(
                        "{}: `{}` names no ranked module",
                        file.display(),
                        path.join("::")
                    ));
                }
            }
        }
    }
    problems.into_iter().collect()
}

#[test]
fn every_import_runs_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = upward_imports(&src);
    assert!(
        problems.is_empty(),
        "imports against the layers (docs/architecture.md):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_ranked_module_exists() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (unit, _) in RANKS {
        let path = unit.replace("::", "/");
        assert!(
            src.join(format!("{path}.rs")).exists() || src.join(&path).join("mod.rs").exists(),
            "{unit} is ranked but src/{path}(.rs|/mod.rs) does not exist"
        );
    }
}

/// The reader finds what the check needs: grouped, nested, `super` and inline paths, and
/// skips comments and test code. A tree with a store file reaching up into `http` fails.
#[test]
fn the_check_sees_an_upward_import() {
    let module: Vec<String> = vec!["store".into(), "sql".into()];
    let code = production_code(
        "// use crate::http::x;\n\
         use crate::{ids::CheckoutId, checkout::{model::Checkout, state}};\n\
         use super::super::http::problem::ApiError;\n\
         fn f() { let _ = crate::upstream::wire::Cart::default(); }\n\
         #[cfg(test)]\nmod tests { use crate::startup::Application; }\n",
    );
    let units: BTreeSet<String> = imported_paths(&code, &module)
        .iter()
        .filter_map(|p| unit_of(p))
        .collect();
    let expected: BTreeSet<String> = [
        "ids",
        "checkout::model",
        "checkout::state",
        "http",
        "upstream",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(units, expected);

    let dir = std::env::temp_dir().join(format!("layers-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("store")).expect("dir");
    std::fs::write(
        dir.join("store/sql.rs"),
        "use crate::ids::Id;\nuse crate::http::problem::ApiError;\n",
    )
    .expect("write");
    let problems = upward_imports(&dir);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("imports `http::problem::ApiError`"),
        "{problems:?}"
    );
}
