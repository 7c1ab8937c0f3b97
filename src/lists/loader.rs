//! The per-request list DataLoader: memberships by (user, list), so a page
//! of todos across many lists checks access and resolves `Todo.list` with
//! one query, and members by list, so `lists { members }` costs one query.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use uuid::Uuid;

use super::{
    ListError, ListService,
    model::{MemberWithUser, Membership},
};

/// The per-request loader type (cached for the request's lifetime; an
/// `Arc` so a subscription can clear it before each event).
pub type ListDataLoader = Arc<DataLoader<ListLoader, HashMapCache>>;

/// A fresh loader for one request.
pub fn list_data_loader(lists: ListService) -> ListDataLoader {
    Arc::new(DataLoader::with_cache(
        ListLoader(lists),
        tokio::spawn,
        HashMapCache::default(),
    ))
}

/// Loads memberships and members in batches.
pub struct ListLoader(pub ListService);

impl Loader<(Uuid, Uuid)> for ListLoader {
    type Value = Membership;
    type Error = Arc<ListError>;

    async fn load(
        &self,
        keys: &[(Uuid, Uuid)],
    ) -> Result<HashMap<(Uuid, Uuid), Membership>, Self::Error> {
        let rows = self.0.memberships_for(keys).await.map_err(Arc::new)?;
        Ok(rows
            .into_iter()
            .map(|m| ((m.member.user_id, m.list.id), m))
            .collect())
    }
}

/// The members of a list, in the order they joined.
#[derive(Debug, Clone)]
pub struct Members(pub Vec<MemberWithUser>);

impl Loader<Uuid> for ListLoader {
    type Value = Members;
    type Error = Arc<ListError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Members>, Self::Error> {
        let rows = self.0.members_of(keys).await.map_err(Arc::new)?;
        let mut out: HashMap<Uuid, Members> =
            keys.iter().map(|k| (*k, Members(Vec::new()))).collect();
        for row in rows {
            out.entry(row.member.list_id)
                .or_insert_with(|| Members(Vec::new()))
                .0
                .push(row);
        }
        Ok(out)
    }
}
