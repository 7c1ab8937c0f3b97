//! The per-request user DataLoader: every `Todo.owner` of a page (and the
//! caller's own authentication check) resolves through one batched query.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use uuid::Uuid;

use super::{AuthError, AuthService, model::User};

/// The per-request loader type (cached for the request's lifetime; an
/// `Arc` so a subscription can clear it before each event).
pub type UserDataLoader = Arc<DataLoader<UserLoader, HashMapCache>>;

/// A fresh loader for one request.
pub fn user_data_loader(auth: AuthService) -> UserDataLoader {
    Arc::new(DataLoader::with_cache(
        UserLoader(auth),
        tokio::spawn,
        HashMapCache::default(),
    ))
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
