//! The exported schema: `schema.graphql` must equal what the code produces
//! (drift check), and must stay backwards compatible with the public
//! contract, vendored in `contract/` (and checked against
//! `../shared/contract/`, its source).

use std::collections::BTreeMap;

use async_graphql::parser::{
    parse_schema,
    types::{TypeKind, TypeSystemDefinition},
};

const EXPORTED: &str = include_str!("../../schema.graphql");

/// Contract types the code does not serve yet, each with the issue that
/// adds it. Empty this list as they land; the test fails if one of these
/// appears unannounced, or anything else is missing.
const PENDING: &[&str] = &[];

#[test]
fn exported_schema_matches_the_code() {
    let generated = todoql::graphql::sdl();
    assert!(
        generated == EXPORTED,
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql`"
    );
}

/// Type name → (kind, member name → signature).
type Types = BTreeMap<String, (String, BTreeMap<String, String>)>;

/// A flattened view of a schema, and its root operation types.
fn shape(sdl: &str) -> (Types, Vec<String>) {
    let doc = parse_schema(sdl).expect("SDL parses");
    let mut types = BTreeMap::new();
    let mut roots = Vec::new();
    for def in doc.definitions {
        match def {
            TypeSystemDefinition::Schema(s) => {
                let s = s.node;
                for (op, name) in [
                    ("query", s.query),
                    ("mutation", s.mutation),
                    ("subscription", s.subscription),
                ] {
                    if let Some(name) = name {
                        roots.push(format!("{op}:{}", name.node));
                    }
                }
            }
            TypeSystemDefinition::Type(t) => {
                let t = t.node;
                let mut members = BTreeMap::new();
                let kind = match t.kind {
                    TypeKind::Object(o) => {
                        for f in o.fields {
                            let f = f.node;
                            members.insert(f.name.node.to_string(), f.ty.node.to_string());
                            for a in f.arguments {
                                let a = a.node;
                                let default = a
                                    .default_value
                                    .map(|d| d.node.to_string())
                                    .unwrap_or_default();
                                members.insert(
                                    format!("{}({})", f.name.node, a.name.node),
                                    format!("{} = {default}", a.ty.node),
                                );
                            }
                        }
                        "object"
                    }
                    TypeKind::InputObject(i) => {
                        for f in i.fields {
                            let f = f.node;
                            let default = f
                                .default_value
                                .map(|d| d.node.to_string())
                                .unwrap_or_default();
                            members.insert(
                                f.name.node.to_string(),
                                format!("{} = {default}", f.ty.node),
                            );
                        }
                        "input"
                    }
                    TypeKind::Enum(e) => {
                        for v in e.values {
                            members.insert(v.node.value.node.to_string(), String::new());
                        }
                        "enum"
                    }
                    TypeKind::Scalar => "scalar",
                    TypeKind::Interface(_) => "interface",
                    TypeKind::Union(_) => "union",
                };
                // `extend type X { … }` (the lists contract) adds to X.
                let entry = types
                    .entry(t.name.node.to_string())
                    .or_insert_with(|| (kind.to_owned(), BTreeMap::new()));
                if !t.extend {
                    entry.0 = kind.to_owned();
                }
                entry.1.extend(members);
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    // A schema without a `schema {}` block uses the default root names.
    if roots.is_empty() {
        for (op, name) in [
            ("query", "Query"),
            ("mutation", "Mutation"),
            ("subscription", "Subscription"),
        ] {
            if types.contains_key(name) {
                roots.push(format!("{op}:{name}"));
            }
        }
    }
    (types, roots)
}

/// The contract files, vendored so that every checkout (CI on GitHub too)
/// compares against them.
const CONTRACT: &[(&str, &str)] = &[
    (
        "schema.graphql",
        include_str!("../../contract/schema.graphql"),
    ),
    (
        "lists.graphql",
        include_str!("../../contract/lists.graphql"),
    ),
    ("sync.graphql", include_str!("../../contract/sync.graphql")),
];

#[test]
fn vendored_contract_equals_the_shared_one() {
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/contract");
    if !std::path::Path::new(shared).is_dir() {
        // Only a clone outside the workspace (GitHub Actions) lacks it; there
        // the vendored copy is all there is. Anywhere else its absence is a
        // broken set-up, not a pass.
        assert!(
            std::env::var_os("GITHUB_ACTIONS").is_some(),
            "{shared} is missing: the vendored contract cannot be checked against it"
        );
        return;
    }
    let mut names: Vec<String> = std::fs::read_dir(shared)
        .expect("shared contract folder readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".graphql"))
        .collect();
    names.sort();
    let mut vendored: Vec<String> = CONTRACT.iter().map(|(n, _)| (*n).to_owned()).collect();
    vendored.sort();
    assert_eq!(
        names, vendored,
        "contract/ must vendor every shared contract file"
    );
    for (name, text) in CONTRACT {
        let theirs = std::fs::read_to_string(format!("{shared}/{name}")).expect("readable");
        assert!(
            theirs == *text,
            "contract/{name} differs from {shared}/{name}: copy it again"
        );
    }
}

#[test]
fn exported_schema_is_backwards_compatible_with_the_contract() {
    // Every contract file: the base schema and its `extend` files.
    let contract: String = CONTRACT
        .iter()
        .map(|(_, text)| *text)
        .collect::<Vec<_>>()
        .join("\n");
    let (theirs, their_roots) = shape(&contract);
    let (ours, our_roots) = shape(EXPORTED);
    let mut problems = Vec::new();
    for root in &their_roots {
        let pending = PENDING.iter().any(|p| root.ends_with(&format!(":{p}")));
        if !our_roots.contains(root) && !pending {
            problems.push(format!("root {root} missing"));
        }
    }
    for (name, (kind, members)) in &theirs {
        if PENDING.contains(&name.as_str()) {
            assert!(
                !ours.contains_key(name),
                "{name} is served now: remove it from PENDING"
            );
            continue;
        }
        let Some((our_kind, our_members)) = ours.get(name) else {
            problems.push(format!("type {name} missing"));
            continue;
        };
        if kind != our_kind {
            problems.push(format!("{name} is a {our_kind}, contract says {kind}"));
        }
        for (member, signature) in members {
            match our_members.get(member) {
                None => problems.push(format!("{name}.{member} missing")),
                Some(ours) if ours != signature => {
                    problems.push(format!("{name}.{member}: `{ours}`, contract `{signature}`"))
                }
                Some(_) => {}
            }
        }
        // Additions to inputs and arguments must be optional, or old
        // clients' requests would stop validating.
        if kind == "input" || kind == "object" {
            for (member, signature) in our_members {
                // A required argument of a new field breaks nobody; of a
                // contract field, every old query.
                let is_input_value = kind == "input"
                    || member
                        .split_once('(')
                        .is_some_and(|(field, _)| members.contains_key(field));
                let required = signature
                    .split(" = ")
                    .next()
                    .is_some_and(|t| t.ends_with('!'))
                    && signature.ends_with("= ");
                if is_input_value && !members.contains_key(member) && required {
                    problems.push(format!("{name}.{member} is a new required input"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "incompatible with the contract:\n{}",
        problems.join("\n")
    );
}
