//! Every account's default list, remembered per process: the list a
//! `createTodo` without `listId` goes to. An account's default list never
//! changes (the database makes it with the account), so what is remembered
//! never goes stale; an account deleted meanwhile is caught by the write's
//! own access check (its memberships are gone with it). Knowing it spares
//! such a write the read of the caller's row before its transaction.

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
};

use lru::LruCache;
use uuid::Uuid;

/// How many accounts are remembered (~100 bytes each), least recently
/// used forgotten first.
const CAPACITY: usize = 16_384;

/// Default lists by account (cheap to clone: shared).
#[derive(Clone)]
pub struct DefaultLists(Arc<Mutex<LruCache<Uuid, Uuid>>>);

impl Default for DefaultLists {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Self(Arc::new(Mutex::new(LruCache::new(capacity))))
    }
}

impl DefaultLists {
    /// `user`'s default list, when known.
    pub fn get(&self, user: Uuid) -> Option<Uuid> {
        // Nothing panics while holding it; a poisoned cache is still a cache.
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(&user).copied()
    }

    /// Remembers that `list` is `user`'s default list.
    pub fn remember(&self, user: Uuid, list: Uuid) {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache.put(user, list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_each_account_and_forgets_the_least_recently_used() {
        let lists = DefaultLists::default();
        let first = Uuid::now_v7();
        assert_eq!(lists.get(first), None);
        lists.remember(first, Uuid::nil());
        assert_eq!(lists.get(first), Some(Uuid::nil()));
        for _ in 0..CAPACITY {
            lists.remember(Uuid::now_v7(), Uuid::now_v7());
        }
        assert_eq!(lists.get(first), None, "the oldest is forgotten");
    }
}
