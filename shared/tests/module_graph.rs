//! The shape of the crate, checked on its sources: no two modules import each other (directly or
//! through others), the domain (`model`) imports nothing from the HTTP layer (`api`), its groups
//! import only groups below them, and no model file grows past 800 lines. Parent and child modules may use each other's items (a `mod.rs`
//! declares its children; children use their parent's helpers); every other edge must point one
//! way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use syn::visit::Visit;

/// The crate's modules by path (`model::agent`; the root is ``), with their parsed source.
fn modules() -> BTreeMap<String, (String, syn::File)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    let mut dirs = vec![root.clone()];
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
            let relative = path.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let file = syn::parse_file(&text).expect("a source file parses");
            modules.insert(parts.join("::"), (text, file));
        }
    }
    modules
}

/// Every path a file names (in `use` trees, types and expressions), as segments.
#[derive(Default)]
struct Paths(Vec<Vec<String>>);

impl Paths {
    fn use_tree(&mut self, prefix: &[String], tree: &syn::UseTree) {
        let mut path = prefix.to_vec();
        match tree {
            syn::UseTree::Path(p) => {
                path.push(p.ident.to_string());
                self.use_tree(&path, &p.tree);
            }
            syn::UseTree::Name(n) => {
                path.push(n.ident.to_string());
                self.0.push(path);
            }
            syn::UseTree::Rename(r) => {
                path.push(r.ident.to_string());
                self.0.push(path);
            }
            syn::UseTree::Glob(_) => self.0.push(path),
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| self.use_tree(&path, t)),
        }
    }
}

impl<'a> Visit<'a> for Paths {
    fn visit_item_use(&mut self, item: &'a syn::ItemUse) {
        self.use_tree(&[], &item.tree);
    }

    fn visit_path(&mut self, path: &'a syn::Path) {
        self.0
            .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }
}

/// Modules re-exported under another path (`pub use group::module;` in `model` makes
/// `model::module` name `model::group::module`): the path they are named by → the module.
fn reexports(modules: &BTreeMap<String, (String, syn::File)>) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for (name, (_, file)) in modules {
        for item in &file.items {
            let syn::Item::Use(u) = item else { continue };
            if matches!(u.vis, syn::Visibility::Inherited) {
                continue;
            }
            let mut paths = Paths::default();
            paths.use_tree(&[], &u.tree);
            for path in paths.0 {
                let real = std::iter::once(name.as_str())
                    .chain(path.iter().map(String::as_str))
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("::");
                if modules.contains_key(&real) {
                    let alias = std::iter::once(name.as_str())
                        .chain(path.last().map(String::as_str))
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join("::");
                    found.insert(alias, real);
                }
            }
        }
    }
    found
}

/// The module a path names, seen from module `from` (`None` outside the crate).
fn target(
    from: &str,
    path: &[String],
    modules: &BTreeMap<String, (String, syn::File)>,
    root_reexports: &BTreeMap<String, String>,
    reexported: &BTreeMap<String, String>,
) -> Option<String> {
    let mut base: Vec<String> = from
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
            if let Some(module) = rest.first().and_then(|name| root_reexports.get(name)) {
                return Some(module.clone());
            }
        }
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        Some("self") => rest = &rest[1..],
        _ => return None,
    }
    (0..=rest.len()).rev().find_map(|n| {
        let candidate = base
            .iter()
            .chain(&rest[..n])
            .cloned()
            .collect::<Vec<_>>()
            .join("::");
        if modules.contains_key(&candidate) {
            return Some(candidate);
        }
        reexported.get(&candidate).cloned()
    })
}

/// Module → the modules it uses (parents and children excepted).
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let root_reexports: BTreeMap<String, String> = modules[""]
        .1
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Use(u) => {
                let mut paths = Paths::default();
                paths.use_tree(&[], &u.tree);
                Some(paths.0)
            }
            _ => None,
        })
        .flatten()
        .filter(|p| p.len() == 2)
        .map(|p| (p[1].clone(), p[0].clone()))
        .collect();
    let reexported = reexports(&modules);
    let mut edges = BTreeMap::new();
    for (name, (_, file)) in &modules {
        let mut paths = Paths::default();
        paths.visit_file(file);
        let targets = paths
            .0
            .iter()
            .filter_map(|p| target(name, p, &modules, &root_reexports, &reexported))
            .filter(|t| {
                t != name
                    && !t.is_empty()
                    && !name.starts_with(&format!("{t}::"))
                    && !t.starts_with(&format!("{name}::"))
            })
            .collect();
        edges.insert(name.clone(), targets);
    }
    edges
}

#[test]
fn no_two_modules_import_each_other() {
    let edges = edges();
    // Depth-first search for a path back to where it started.
    fn back_to<'a>(
        start: &str,
        at: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        seen: &mut BTreeSet<&'a str>,
        path: &mut Vec<&'a str>,
    ) -> bool {
        for next in &edges[at] {
            if next == start {
                return true;
            }
            if seen.insert(next) {
                path.push(next);
                if back_to(start, next, edges, seen, path) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    for start in edges.keys() {
        let mut path = vec![start.as_str()];
        let found = back_to(start, start, &edges, &mut BTreeSet::new(), &mut path);
        assert!(!found, "import circle: {} -> {start}", path.join(" -> "));
    }
}

#[test]
fn the_domain_imports_nothing_from_the_http_layer() {
    for (module, targets) in edges() {
        if module == "model" || module.starts_with("model::") {
            let http: Vec<_> = targets.iter().filter(|t| t.starts_with("api")).collect();
            assert!(http.is_empty(), "{module} imports {http:?}");
        }
    }
}

/// The domain's groups, top down; the rest of `model` (the core) is below them all.
const GROUPS: [&str; 6] = [
    "agents",
    "servers",
    "credentials",
    "oauth",
    "auth_records",
    "events",
];

/// Where `module` stands among the domain's groups (the core last); `None` outside `model`.
fn rank(module: &str) -> Option<usize> {
    let rest = module.strip_prefix("model::")?;
    let first = rest.split("::").next()?;
    Some(
        GROUPS
            .iter()
            .position(|g| *g == first)
            .unwrap_or(GROUPS.len()),
    )
}

#[test]
fn the_domains_groups_import_only_groups_below_them() {
    let edges = edges();
    let mut seen = 0;
    for (module, targets) in &edges {
        let Some(from) = rank(module) else { continue };
        for target in targets {
            let Some(to) = rank(target) else { continue };
            assert!(
                to >= from,
                "{module} imports {target}, a group above it (groups top down: {GROUPS:?}, then the core)"
            );
            seen += usize::from(to > from);
        }
    }
    // The edges are seen through the re-exports too: without them this would be 0.
    assert!(seen > 20, "only {seen} edges between groups found");
}

#[test]
fn no_model_file_grows_past_800_lines() {
    for (module, (text, _)) in modules() {
        if module.starts_with("model") {
            let lines = text.lines().count();
            assert!(
                lines <= 800,
                "{module} has {lines} lines: split it by concern"
            );
        }
    }
}
