//! Cheap refusals of abusive documents, before validation or execution:
//! size and token count on the raw text (before parsing, which is the
//! expensive part), then depth, aliases, root fields, directives per field
//! and the size of the fragment-expanded tree on the parsed document.
//! Complexity (with `first` as a multiplier) is checked by async-graphql's
//! validation with the limit set in [`super::build_schema`].
//!
//! Introspection fields are exempt from the depth limit: GraphiQL's
//! introspection query nests `ofType` eight levels deep.

use async_graphql::{
    Request,
    parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet},
};

use super::documents::{CachedDocument, DocumentCache, SharedDocument};
use crate::config::GraphqlConfig;

/// The limits, from configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `GRAPHQL_MAX_QUERY_BYTES`.
    pub max_query_bytes: usize,
    /// `GRAPHQL_MAX_TOKENS`.
    pub max_tokens: usize,
    /// `GRAPHQL_MAX_DEPTH`.
    pub max_depth: usize,
    /// `GRAPHQL_MAX_ALIASES`.
    pub max_aliases: usize,
    /// `GRAPHQL_MAX_ROOT_FIELDS` (queries and subscriptions).
    pub max_root_fields: usize,
    /// `GRAPHQL_MAX_MUTATION_ROOT_FIELDS`: a mutation's root fields; their
    /// aliases do not count towards `max_aliases` (an offline queue
    /// replayed as one document of aliased mutations).
    pub max_mutation_root_fields: usize,
    /// `GRAPHQL_MAX_DIRECTIVES`: on any one field or fragment.
    pub max_directives: usize,
    /// `GRAPHQL_INTROSPECTION`: when false, `__schema` and `__type` are
    /// refused with an error (rather than answered with null).
    pub introspection: bool,
    /// Parsed documents by their text, so a document sent again is not
    /// parsed again (the checks here still run on every request).
    pub documents: DocumentCache,
}

/// Fields visited (fragments expanded) before a document counts as too big,
/// whatever else it does: stops fragment-expansion bombs.
const MAX_VISITED: usize = 10_000;

impl Limits {
    /// The limits configured in `config`.
    pub fn from_config(config: &GraphqlConfig) -> Self {
        Self {
            max_query_bytes: config.max_query_bytes,
            max_tokens: config.max_tokens,
            max_depth: config.max_depth,
            max_aliases: config.max_aliases,
            max_root_fields: config.max_root_fields,
            max_mutation_root_fields: config.max_mutation_root_fields,
            max_directives: config.max_directives,
            introspection: config.introspection,
            documents: DocumentCache::new(config.document_cache_bytes),
        }
    }
}

/// Which limit a document exceeds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// The document text is too long.
    #[error("the query is larger than {0} bytes")]
    QueryBytes(usize),
    /// Too many lexical tokens.
    #[error("the query has more than {0} tokens")]
    Tokens(usize),
    /// Fields nested too deep.
    #[error("the query is nested deeper than {0} levels")]
    Depth(usize),
    /// Too many aliases.
    #[error("the query has more than {0} aliases")]
    Aliases(usize),
    /// Too many root fields.
    #[error("the operation selects more than {0} root fields")]
    RootFields(usize),
    /// Too many directives on one field.
    #[error("a field carries more than {0} directives")]
    Directives(usize),
    /// The fragment-expanded tree is too large.
    #[error("the query expands to more than {MAX_VISITED} fields")]
    Expansion,
    /// Introspection is turned off.
    #[error("introspection is disabled on this server")]
    Introspection,
}

impl LimitExceeded {
    /// The limit's name, for `extensions.limit`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::QueryBytes(_) => "queryBytes",
            Self::Tokens(_) => "tokens",
            Self::Depth(_) => "depth",
            Self::Aliases(_) => "aliases",
            Self::RootFields(_) => "rootFields",
            Self::Directives(_) => "directives",
            Self::Expansion => "expansion",
            Self::Introspection => "introspection",
        }
    }
}

/// Checks a request against `limits`, parsing it (the parsed document is
/// kept in the request, so it is parsed once, and in the document cache,
/// so the same text is not parsed again). A document that does not parse
/// passes here and fails as a parse error later.
pub fn check(request: &mut Request, limits: &Limits) -> Result<(), LimitExceeded> {
    if request.query.len() > limits.max_query_bytes {
        return Err(LimitExceeded::QueryBytes(limits.max_query_bytes));
    }
    if count_tokens(&request.query, limits.max_tokens) > limits.max_tokens {
        return Err(LimitExceeded::Tokens(limits.max_tokens));
    }
    let operation_name = request.operation_name.clone();
    if let Some(cached) = limits.documents.get(&request.query) {
        request.set_parsed_query(ExecutableDocument::clone(&cached.document));
        request.data.insert(SharedDocument(cached));
    } else if let Ok(document) = request.parsed_query() {
        let cached = CachedDocument::new(document.clone());
        limits.documents.insert(&request.query, cached.clone());
        request.data.insert(SharedDocument(cached));
    }
    match request.parsed_query() {
        Ok(doc) => check_document(doc, operation_name.as_deref(), limits),
        Err(_) => Ok(()),
    }
}

/// Counts GraphQL tokens, stopping once past `cap`.
pub fn count_tokens(query: &str, cap: usize) -> usize {
    let bytes = query.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < bytes.len() && n <= cap {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                n += 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                n += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                i += 3;
                n += 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'-' | b'+' | b'.'))
                {
                    i += 1;
                }
                n += 1;
            }
            _ => {
                i += 1;
                n += 1;
            }
        }
    }
    n
}

fn check_document(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    limits: &Limits,
) -> Result<(), LimitExceeded> {
    let mut walk = Walk {
        doc,
        limits,
        aliases: 0,
        visited: 0,
        stack: Vec::new(),
        root_aliases_free: false,
    };
    // Every operation in the document is checked, not only the selected
    // one: an unselected operation still costs parsing and validation.
    for (name, operation) in doc.operations.iter() {
        let selected = match (operation_name, name) {
            (Some(wanted), Some(name)) => wanted == name.as_str(),
            _ => true,
        };
        let op = &operation.node;
        if op.directives.len() > limits.max_directives {
            return Err(LimitExceeded::Directives(limits.max_directives));
        }
        let mutation = op.ty == OperationType::Mutation;
        let max_root = if mutation {
            limits.max_mutation_root_fields
        } else {
            limits.max_root_fields
        };
        if selected {
            walk.root_fields(&op.selection_set.node, &mut Vec::new(), &mut 0, max_root)?;
        }
        walk.root_aliases_free = mutation;
        walk.set(&op.selection_set.node, 1)?;
    }
    Ok(())
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    limits: &'a Limits,
    aliases: usize,
    visited: usize,
    /// Fragments being expanded (a cycle is invalid; validation says so).
    stack: Vec<&'a str>,
    /// Aliases of root fields are not counted (a mutation's: its root
    /// fields have their own limit).
    root_aliases_free: bool,
}

impl<'a> Walk<'a> {
    /// Root fields, with fragments at the root expanded (each fragment at
    /// most once per path, so cycles end; the count stops past the limit,
    /// so fragment bombs end early too).
    fn root_fields(
        &self,
        set: &'a SelectionSet,
        seen: &mut Vec<&'a str>,
        count: &mut usize,
        max: usize,
    ) -> Result<(), LimitExceeded> {
        for item in &set.items {
            if *count > max {
                return Err(LimitExceeded::RootFields(max));
            }
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    if !self.limits.introspection && (name == "__schema" || name == "__type") {
                        return Err(LimitExceeded::Introspection);
                    }
                    *count += 1;
                }
                Selection::InlineFragment(f) => {
                    self.root_fields(&f.node.selection_set.node, seen, count, max)?;
                }
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    if seen.contains(&name) {
                        continue;
                    }
                    if let Some(f) = self.doc.fragments.get(&s.node.fragment_name.node) {
                        seen.push(name);
                        self.root_fields(&f.node.selection_set.node, seen, count, max)?;
                        seen.pop();
                    }
                }
            }
        }
        if *count > max {
            return Err(LimitExceeded::RootFields(max));
        }
        Ok(())
    }

    fn set(&mut self, set: &'a SelectionSet, depth: usize) -> Result<(), LimitExceeded> {
        if depth > self.limits.max_depth {
            return Err(LimitExceeded::Depth(self.limits.max_depth));
        }
        for item in &set.items {
            self.visited += 1;
            if self.visited > MAX_VISITED {
                return Err(LimitExceeded::Expansion);
            }
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.directives(field.directives.len())?;
                    if field.alias.is_some() && !(depth == 1 && self.root_aliases_free) {
                        self.aliases += 1;
                        if self.aliases > self.limits.max_aliases {
                            return Err(LimitExceeded::Aliases(self.limits.max_aliases));
                        }
                    }
                    if field.name.node.starts_with("__") {
                        continue;
                    }
                    if !field.selection_set.node.items.is_empty() {
                        self.set(&field.selection_set.node, depth + 1)?;
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.directives(fragment.node.directives.len())?;
                    self.set(&fragment.node.selection_set.node, depth)?;
                }
                Selection::FragmentSpread(spread) => {
                    self.directives(spread.node.directives.len())?;
                    let name = spread.node.fragment_name.node.as_str();
                    if self.stack.contains(&name) {
                        continue;
                    }
                    if let Some(fragment) = self.doc.fragments.get(&spread.node.fragment_name.node)
                    {
                        self.directives(fragment.node.directives.len())?;
                        self.stack.push(name);
                        self.set(&fragment.node.selection_set.node, depth)?;
                        self.stack.pop();
                    }
                }
            }
        }
        Ok(())
    }

    fn directives(&self, n: usize) -> Result<(), LimitExceeded> {
        if n > self.limits.max_directives {
            Err(LimitExceeded::Directives(self.limits.max_directives))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_query_bytes: 10_000,
            max_tokens: 1_000,
            max_depth: 4,
            max_aliases: 3,
            max_root_fields: 3,
            max_mutation_root_fields: 5,
            max_directives: 2,
            introspection: true,
            documents: DocumentCache::new(10_000),
        }
    }

    fn check_query(q: &str) -> Result<(), LimitExceeded> {
        check(&mut Request::new(q), &limits())
    }

    #[test]
    fn cached_documents_are_checked_and_handed_to_the_request() {
        let limits = limits();
        let deep = "{ a { b { c { d { e } } } } }";
        for _ in 0..2 {
            let mut request = Request::new("{ a { b } }");
            assert!(check(&mut request, &limits).is_ok());
            assert!(
                request
                    .data
                    .get(&std::any::TypeId::of::<SharedDocument>())
                    .is_some()
            );
            assert!(request.parsed_query().is_ok());
            // A cached document is refused as it was the first time.
            assert_eq!(check_with(deep, &limits), Err(LimitExceeded::Depth(4)));
        }
        assert_eq!(limits.documents.usage().0, 2);
        // Documents that do not parse are not kept; they fail later.
        assert!(check_with("{ a {", &limits).is_ok());
        assert_eq!(limits.documents.usage().0, 2);
    }

    fn check_with(q: &str, limits: &Limits) -> Result<(), LimitExceeded> {
        check(&mut Request::new(q), limits)
    }

    #[test]
    fn just_under_passes_just_over_fails() {
        assert!(check_query("{ a { b { c { d } } } }").is_ok());
        assert_eq!(
            check_query("{ a { b { c { d { e } } } } }"),
            Err(LimitExceeded::Depth(4))
        );
        assert!(check_query("{ x: a y: a z: a }").is_ok());
        assert_eq!(
            check_query("{ a { w: b x: b y: b z: b } }"),
            Err(LimitExceeded::Aliases(3))
        );
        assert_eq!(
            check_query("{ a b c d }"),
            Err(LimitExceeded::RootFields(3))
        );
        assert!(check_query("{ a @skip(if: false) @include(if: true) }").is_ok());
        assert_eq!(
            check_query("{ a @skip(if: false) @include(if: true) @skip(if: false) }"),
            Err(LimitExceeded::Directives(2))
        );
    }

    #[test]
    fn mutations_have_their_own_root_field_limit_and_free_root_aliases() {
        // Five aliased root fields pass (over the 3 of queries, and their
        // aliases are not counted); a sixth does not.
        assert!(check_query("mutation { a: m b: m c: m d: m e: m }").is_ok());
        assert_eq!(
            check_query("mutation { a: m b: m c: m d: m e: m f: m }"),
            Err(LimitExceeded::RootFields(5))
        );
        assert_eq!(
            check_query("{ a: m b: m c: m d: m }"),
            Err(LimitExceeded::RootFields(3))
        );
        // Aliases below the root still count.
        assert_eq!(
            check_query("mutation { m { w: b x: b y: b z: b } }"),
            Err(LimitExceeded::Aliases(3))
        );
    }

    #[test]
    fn fragments_are_expanded_and_introspection_is_exempt_from_depth() {
        assert_eq!(
            check_query("{ a { ...F } } fragment F on T { b { c { d { e } } } }"),
            Err(LimitExceeded::Depth(4))
        );
        assert_eq!(
            check_query("{ ...R } fragment R on Query { a b c d }"),
            Err(LimitExceeded::RootFields(3))
        );
        assert!(
            check_query(
                "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"
            )
            .is_ok()
        );
        // A cycle does not hang the walk (validation rejects it later).
        assert!(check_query("{ a { ...F } } fragment F on T { b { ...F } }").is_ok());
    }

    #[test]
    fn fragment_bombs_stop_early() {
        let mut q = String::from("{ ...F0 }");
        for i in 0..20 {
            q.push_str(&format!(
                " fragment F{i} on T {{ a {{ ...F{} ...F{} }} }}",
                i + 1,
                i + 1
            ));
        }
        q.push_str(" fragment F20 on T { z }");
        let mut lim = limits();
        lim.max_depth = 100;
        assert!(matches!(
            check(&mut Request::new(q), &lim),
            Err(LimitExceeded::Expansion | LimitExceeded::Depth(_))
        ));
    }

    #[test]
    fn root_fragment_cycles_and_bombs_end() {
        assert!(check_query("{ ...A } fragment A on Query { a ...A }").is_ok());
        let mut q = String::from("{ ...F0 }");
        for i in 0..30 {
            q.push_str(&format!(
                " fragment F{i} on Query {{ ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        q.push_str(" fragment F30 on Query { a }");
        assert_eq!(check_query(&q), Err(LimitExceeded::RootFields(3)));
    }

    #[test]
    fn introspection_can_be_refused() {
        let mut lim = limits();
        lim.introspection = false;
        let q = |s: &str| check(&mut Request::new(s), &lim);
        assert_eq!(
            q("{ __schema { types { name } } }"),
            Err(LimitExceeded::Introspection)
        );
        assert_eq!(
            q("{ __type(name: \"Todo\") { name } }"),
            Err(LimitExceeded::Introspection)
        );
        assert!(q("{ __typename }").is_ok());
    }

    #[test]
    fn text_limits_run_before_parsing() {
        let long = format!("{{ a }} #{}", "x".repeat(10_001));
        assert_eq!(check_query(&long), Err(LimitExceeded::QueryBytes(10_000)));
        let many = format!("{{ {} }}", "a ".repeat(1_001));
        assert_eq!(check_query(&many), Err(LimitExceeded::Tokens(1_000)));
    }

    #[test]
    fn token_counting() {
        assert_eq!(count_tokens("{ a(b: \"x y\") }", 100), 8);
        assert_eq!(count_tokens("query Q($v: [Int!]) { ...F }", 100), 15);
        assert_eq!(count_tokens("# only a comment\n", 100), 0);
        assert_eq!(count_tokens("\"\"\"block \\\"\"\" string\"\"\" a", 100), 2);
        assert_eq!(count_tokens(&"a ".repeat(1000), 10), 11);
    }
}
