//! The GraphQL types of lists that refer to no other object type:
//! `ListRole`, `Collaborator`, `ListMember`, and the membership lookup
//! through the request's DataLoader. `TodoList` refers to `Todo` and back,
//! so it lives in `graphql::objects`.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    auth::model::User,
    error::{ErrorCode, coded, log_internal},
    lists::{
        access::Role,
        invitation::InvitationView,
        loader::ListDataLoader,
        model::{MemberWithUser, Membership},
    },
};

/// A member's role.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ListRole", remote = "Role")]
pub enum ListRoleObject {
    /// Everything, plus members, invitations, transfer and deletion.
    Owner,
    /// Reads and writes todos, renames the list.
    Editor,
    /// Reads only.
    Viewer,
}

/// The caller's membership of `list`, through the request's DataLoader
/// (`None`: not a member, and the list must behave as missing).
pub async fn membership(
    ctx: &Context<'_>,
    user: Uuid,
    list: Uuid,
) -> async_graphql::Result<Option<Membership>> {
    let loader = ctx.data::<ListDataLoader>()?;
    loader.load_one((user, list)).await.map_err(|e| {
        log_internal(e.as_ref());
        coded(ErrorCode::InternalServerError, "Internal server error")
    })
}

/// Another user as the members of a shared list see them.
#[derive(SimpleObject)]
#[graphql(name = "Collaborator")]
pub struct CollaboratorObject {
    id: ID,
    email: String,
    display_name: Option<String>,
}

impl CollaboratorObject {
    /// From a user row.
    pub fn from_user(user: &User) -> Self {
        Self {
            id: ID(user.id.to_string()),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
        }
    }
}

/// A member of a list.
pub struct ListMemberObject(pub MemberWithUser);

#[Object(name = "ListMember")]
impl ListMemberObject {
    async fn user(&self) -> CollaboratorObject {
        CollaboratorObject {
            id: ID(self.0.member.user_id.to_string()),
            email: self.0.email.clone(),
            display_name: self.0.display_name.clone(),
        }
    }

    async fn role(&self) -> ListRoleObject {
        self.0.member.role().into()
    }

    async fn joined_at(&self) -> DateTime<Utc> {
        self.0.member.joined_at
    }
}

/// Parses a list id as sent: a malformed one names no list.
pub fn parse_list_id(raw: &str) -> Option<Uuid> {
    Uuid::try_parse(raw).ok()
}

/// What an invitee may see of the list before joining.
#[derive(SimpleObject)]
#[graphql(name = "ListInvitationTarget")]
pub struct ListInvitationTargetObject {
    id: ID,
    name: String,
}

/// An invitation to a list.
pub struct ListInvitationObject(pub InvitationView);

#[Object(name = "ListInvitation")]
impl ListInvitationObject {
    async fn id(&self) -> ID {
        ID(self.0.row.id.to_string())
    }

    async fn list(&self) -> ListInvitationTargetObject {
        ListInvitationTargetObject {
            id: ID(self.0.row.list_id.to_string()),
            name: self.0.list_name.clone(),
        }
    }

    async fn email(&self) -> &str {
        &self.0.row.email
    }

    async fn role(&self) -> ListRoleObject {
        Role::from_db(&self.0.row.role).into()
    }

    async fn invited_by(&self) -> CollaboratorObject {
        CollaboratorObject {
            id: ID(self.0.row.invited_by.to_string()),
            email: self.0.inviter_email.clone(),
            display_name: self.0.inviter_name.clone(),
        }
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.row.created_at
    }

    /// Invitations lapse after 14 days.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.row.expires_at
    }
}
