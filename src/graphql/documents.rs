//! Parsed documents by their text: a bounded LRU, so the documents a client
//! sends again and again (every app sends the same few) are parsed once per
//! process. Parsing depends on the text alone (not on the schema, the
//! variables or the caller), so an entry never goes stale. Validation is
//! kept per document and shape (operation name and variables) instead:
//! it depends on the variables (complexity multiplies by `first`, which
//! may be a variable), see [`super::shapes`].
//!
//! The bound is on the query text held (`GRAPHQL_DOCUMENT_CACHE_BYTES`);
//! a parsed document takes a small multiple of its text. Keys are the full
//! text, not a hash of it, so two documents can never share an entry.

use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

use super::shapes::Shapes;

/// A parsed document and the shapes it validated with.
pub struct CachedDocument {
    /// The document, shared with each request's selection order.
    pub document: Arc<ExecutableDocument>,
    /// The operation names and variables it validated with.
    pub shapes: Shapes,
}

impl CachedDocument {
    /// A document not yet validated with any shape.
    pub fn new(document: ExecutableDocument) -> Arc<Self> {
        Arc::new(Self {
            document: Arc::new(document),
            shapes: Shapes::default(),
        })
    }
}

/// A document the cache handed out, left in the request's data so the
/// schema's extension and the gateway can use it without copying it again.
#[derive(Clone)]
pub struct SharedDocument(pub Arc<CachedDocument>);

/// The cache; cheap to clone (clones share it). Disabled with a bound of 0.
#[derive(Clone, Default)]
pub struct DocumentCache {
    inner: Option<Arc<Mutex<Entries>>>,
}

struct Entries {
    lru: LruCache<Box<str>, Arc<CachedDocument>>,
    bytes: usize,
    max_bytes: usize,
}

impl std::fmt::Debug for DocumentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (len, bytes) = self.usage();
        f.debug_struct("DocumentCache")
            .field("documents", &len)
            .field("bytes", &bytes)
            .finish()
    }
}

impl DocumentCache {
    /// A cache holding at most `max_bytes` of query text (none when 0).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            inner: (max_bytes > 0).then(|| {
                Arc::new(Mutex::new(Entries {
                    lru: LruCache::unbounded(),
                    bytes: 0,
                    max_bytes,
                }))
            }),
        }
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Entries>> {
        let inner = self.inner.as_ref()?;
        Some(inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The document parsed from `query`, if cached (it becomes the most
    /// recently used).
    pub fn get(&self, query: &str) -> Option<Arc<CachedDocument>> {
        self.lock()?.lru.get(query).cloned()
    }

    /// Keeps `document`, parsed from `query`, evicting the least recently
    /// used documents beyond the bound; a document larger than the whole
    /// bound is not kept.
    pub fn insert(&self, query: &str, document: Arc<CachedDocument>) {
        let Some(mut entries) = self.lock() else {
            return;
        };
        if query.len() > entries.max_bytes {
            return;
        }
        if let Some(old) = entries.lru.put(query.into(), document) {
            // The same text again (two requests raced): same size.
            drop(old);
            return;
        }
        entries.bytes += query.len();
        while entries.bytes > entries.max_bytes {
            match entries.lru.pop_lru() {
                Some((text, _)) => entries.bytes -= text.len(),
                None => break,
            }
        }
    }

    /// How many documents, and how many bytes of text, are kept.
    pub fn usage(&self) -> (usize, usize) {
        self.lock().map_or((0, 0), |e| (e.lru.len(), e.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Arc<CachedDocument> {
        CachedDocument::new(
            async_graphql::parser::parse_query(query).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn a_hit_returns_the_document_of_that_exact_text() {
        let cache = DocumentCache::new(1_000);
        let a = "{ me { id } }";
        cache.insert(a, parse(a));
        assert!(cache.get(a).is_some());
        assert!(cache.get("{ me { email } }").is_none());
        assert!(
            cache.get("{ me { id }}").is_none(),
            "texts are compared whole"
        );
        assert_eq!(cache.usage(), (1, a.len()));
    }

    #[test]
    fn the_least_recently_used_go_beyond_the_bound() {
        let (a, b, c) = ("{ a }", "{ b }", "{ c }");
        let cache = DocumentCache::new(a.len() * 2);
        cache.insert(a, parse(a));
        cache.insert(b, parse(b));
        assert!(cache.get(a).is_some(), "a is now the most recent");
        cache.insert(c, parse(c));
        assert!(cache.get(b).is_none(), "b was the least recent");
        assert!(cache.get(a).is_some() && cache.get(c).is_some());
        assert_eq!(cache.usage(), (2, a.len() * 2));
        // The same text again takes no more room.
        cache.insert(c, parse(c));
        assert_eq!(cache.usage(), (2, a.len() * 2));
        // Larger than the whole bound: not kept, nothing evicted.
        let big = "{ aaaaaaaaaaaaaaaaaaaaa }";
        cache.insert(big, parse(big));
        assert!(cache.get(big).is_none());
        assert_eq!(cache.usage().0, 2);
    }

    #[test]
    fn a_bound_of_zero_keeps_nothing() {
        let cache = DocumentCache::new(0);
        cache.insert("{ a }", parse("{ a }"));
        assert!(cache.get("{ a }").is_none());
        assert_eq!(cache.usage(), (0, 0));
    }
}
