//! The per-request user loader: every `Todo.owner` of a page (and the
//! caller's own authentication check) resolves through one batched query.
//!
//! Rows already known to the request (the viewer's, primed by the read
//! that fetched the page; rows a page prefetched) are answered from a map
//! of shared rows in front of async-graphql's DataLoader. A DataLoader hit
//! costs, per call, its own spans, a key set, a result map and a clone of
//! the row with its strings; a page resolves `owner` for every node, so
//! the map is what keeps a 20-node page from paying that 20 times. Misses
//! still go through the DataLoader, which batches the keys that arrive in
//! one delay window into one query.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use async_graphql::dataloader::{DataLoader, Loader};
use uuid::Uuid;

use super::{AuthError, AuthService, model::User};

/// One request's user loader (cheap to clone: a subscription keeps a clone
/// to clear it before each event).
#[derive(Clone)]
pub struct UserDataLoader(Arc<Users>);

struct Users {
    /// Rows this request has read or was given, shared.
    known: Mutex<HashMap<Uuid, Arc<User>>>,
    /// Batches the misses (no cache of its own: `known` is the cache).
    batch: DataLoader<UserLoader>,
    /// The request is a mutation: its top-level fields run one after the
    /// other, so the caller's row has nothing to be batched with.
    serial: bool,
}

/// A fresh loader for one request; `serial` for a mutation.
pub fn user_data_loader(auth: AuthService, serial: bool) -> UserDataLoader {
    UserDataLoader(Arc::new(Users {
        known: Mutex::default(),
        batch: DataLoader::new(UserLoader(auth), tokio::spawn),
        serial,
    }))
}

impl UserDataLoader {
    fn known(&self) -> MutexGuard<'_, HashMap<Uuid, Arc<User>>> {
        // Nothing panics while holding it; a poisoned map is still a map.
        self.0.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The user `id` (`None`: no such account).
    pub async fn load_one(&self, id: Uuid) -> Result<Option<Arc<User>>, Arc<AuthError>> {
        if let Some(user) = self.known().get(&id) {
            return Ok(Some(user.clone()));
        }
        let Some(user) = self.0.batch.load_one(id).await? else {
            return Ok(None);
        };
        let user = Arc::new(user);
        self.known().insert(id, user.clone());
        Ok(Some(user))
    }

    /// The caller's row, `id` (`None`: the account is gone). In a query,
    /// sibling fields (`{ me { … } todos { … } }`) may ask for it at once,
    /// and the DataLoader makes that one read. A mutation's resolver asks
    /// for it first thing with nothing to batch it with, so it is read at
    /// once: the DataLoader's delay (a spawned task waiting on a timer
    /// thread) would be pure cost on every write.
    pub async fn viewer(&self, id: Uuid) -> Result<Option<Arc<User>>, Arc<AuthError>> {
        if !self.0.serial {
            return self.load_one(id).await;
        }
        if let Some(user) = self.known().get(&id) {
            return Ok(Some(user.clone()));
        }
        self.read(vec![id]).await?;
        Ok(self.known().get(&id).cloned())
    }

    /// Reads, in one query, those of `ids` not known yet, so the fields
    /// that ask for them one by one later find them. Already a batch: it
    /// skips the DataLoader's delay.
    pub async fn load_many(
        &self,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<(), Arc<AuthError>> {
        let missing: Vec<Uuid> = {
            let known = self.known();
            ids.into_iter()
                .filter(|id| !known.contains_key(id))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        self.read(missing).await
    }

    async fn read(&self, ids: Vec<Uuid>) -> Result<(), Arc<AuthError>> {
        let found = self
            .0
            .batch
            .loader()
            .0
            .users_by_ids(&ids)
            .await
            .map_err(Arc::new)?;
        self.feed_many(found);
        Ok(())
    }

    /// Remembers `user`, read elsewhere (replacing what was known of it).
    pub fn feed_one(&self, user: User) {
        self.known().insert(user.id, Arc::new(user));
    }

    /// Remembers `users`, read elsewhere.
    pub fn feed_many(&self, users: impl IntoIterator<Item = User>) {
        self.known()
            .extend(users.into_iter().map(|user| (user.id, Arc::new(user))));
    }

    /// Forgets everything loaded so far (after a write, or before a
    /// subscription's next event: the rows' data versions are stale).
    pub fn clear(&self) {
        self.known().clear();
    }
}

/// Loads users by id in batches.
pub struct UserLoader(pub AuthService);

impl Loader<Uuid> for UserLoader {
    type Value = User;
    type Error = Arc<AuthError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, User>, Self::Error> {
        let users = self.0.users_by_ids(keys).await.map_err(Arc::new)?;
        Ok(users.into_iter().map(|u| (u.id, u)).collect())
    }
}
