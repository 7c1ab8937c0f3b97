//! Invitations: inviting an address (with or without an account) to a
//! list, the invitee's inbox, accepting, declining and withdrawing. An
//! invitation goes to whoever owns the address, so only a caller who
//! verified it may see, accept or decline one.

use chrono::{Duration, Utc};
use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::{ListService, enter_exclusive, list_changes, member_rows, now};
use crate::{
    auth::{domain::Email, model::User},
    events::service::{self as events, ListAction},
    jobs::{self, queue::Job},
    lists::{
        ListError,
        access::{Action, Role},
        domain::{MAX_LISTS_PER_USER, MAX_MEMBERS, grantable},
        invitation::{self, InvitationRow, InvitationView},
        model::{self, MemberRow, Membership},
        position::{self, PositionKey},
    },
};

/// How long an invitation can be accepted.
pub const VALIDITY: Duration = Duration::days(14);
/// Most pending invitations a list may have.
pub const MAX_PENDING_PER_LIST: i64 = 50;
/// Most invitations one user may send in a day.
pub const MAX_SENT_PER_DAY: i64 = 100;

/// `NOT_FOUND` for an invitation: also what a caller gets for one that is
/// addressed to someone else.
fn missing() -> ListError {
    ListError::NotFound("invitation")
}

/// Whether `user` owns the invitation's address (case-insensitively).
fn addressed_to(row: &InvitationRow, user: &User) -> bool {
    row.email.to_lowercase() == user.email.to_lowercase()
}

impl ListService {
    /// Invites `email` to `list` as `role` (the caller must be its OWNER)
    /// and queues the invitation email in the same transaction.
    #[tracing::instrument(skip_all, fields(user.id = %actor, list.id = %list))]
    pub async fn invite(
        &self,
        actor: Uuid,
        list: Uuid,
        email: &str,
        role: Role,
    ) -> Result<InvitationView, ListError> {
        let mut conn = self.db.conn().await?;
        conn.transaction::<_, ListError, _>(async |conn| {
            enter_exclusive(conn, list, actor, Action::Invite).await?;
            let role = grantable(role, "role")?;
            let email =
                Email::parse(email).map_err(|e| ListError::invalid("email", e.to_string()))?;
            let at = now();
            // One inviter's count is checked under a lock of its own, so two
            // lists' invitations sent at once cannot both pass the limit.
            crate::db::advisory_xact_lock(conn, &format!("invite:{actor}")).await?;
            if invitation::count_sent_since(conn, actor, at - Duration::days(1)).await?
                >= MAX_SENT_PER_DAY
            {
                return Err(ListError::RateLimited(format!(
                    "at most {MAX_SENT_PER_DAY} invitations a day; try again tomorrow"
                )));
            }
            if invitation::member_has_email(conn, list, email.as_str()).await? {
                return Err(ListError::Conflict(
                    "that address is already a member of this list",
                ));
            }
            invitation::retire_expired(conn, list, email.as_str(), at).await?;
            if invitation::count_pending(conn, list, at).await? >= MAX_PENDING_PER_LIST {
                return Err(ListError::invalid(
                    "email",
                    format!("a list may have at most {MAX_PENDING_PER_LIST} pending invitations"),
                ));
            }
            let row = invitation::insert(
                conn,
                &InvitationRow {
                    id: Uuid::now_v7(),
                    list_id: list,
                    email: email.as_str().to_owned(),
                    role: role.as_str().to_owned(),
                    invited_by: actor,
                    created_at: at,
                    expires_at: at + VALIDITY,
                    accepted_at: None,
                    cancelled_at: None,
                },
            )
            .await
            .map_err(|e| match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => ListError::Conflict(
                    "that address already has a pending invitation to this list",
                ),
                other => other.into(),
            })?;
            jobs::queue::enqueue(
                conn,
                &Job::ListInvitationEmail {
                    invitation_id: row.id,
                },
                None,
                None,
            )
            .await?;
            invitation::find(conn, row.id).await?.ok_or_else(missing)
        })
        .await
    }

    /// One invitation, for the email job (`None` once gone).
    pub async fn invitation(&self, id: Uuid) -> Result<Option<InvitationView>, ListError> {
        let mut conn = self.db.conn().await?;
        Ok(invitation::find(&mut conn, id).await?)
    }

    /// The pending invitations of `list` (the caller checked it is the OWNER).
    pub async fn pending_of_list(&self, list: Uuid) -> Result<Vec<InvitationView>, ListError> {
        let mut conn = self.db.conn().await?;
        Ok(invitation::pending_of_list(&mut conn, list, Utc::now()).await?)
    }

    /// The pending invitations addressed to `user`: none until the
    /// address is verified.
    pub async fn invitations_for(&self, user: &User) -> Result<Vec<InvitationView>, ListError> {
        if !user.email_verified() {
            return Ok(Vec::new());
        }
        let mut conn = self.db.conn().await?;
        Ok(invitation::pending_for_email(&mut conn, &user.email, Utc::now()).await?)
    }

    /// Accepts invitation `id` as `user`: the address first (`NOT_FOUND`
    /// for anyone else's, saying nothing of the list), then its
    /// verification, then whether it is still pending.
    #[tracing::instrument(skip_all, fields(user.id = %user.id, invitation.id = %id))]
    pub async fn accept(&self, user: &User, id: Uuid) -> Result<Membership, ListError> {
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction::<_, ListError, _>(async |conn| {
                let row = invitation::lock(conn, id).await?.ok_or_else(missing)?;
                if !addressed_to(&row, user) {
                    return Err(missing());
                }
                if !user.email_verified() {
                    return Err(ListError::EmailNotVerified);
                }
                let at = now();
                if row.accepted_at.is_some() || row.cancelled_at.is_some() {
                    return Err(missing());
                }
                if row.expires_at <= at {
                    return Err(ListError::invalid(
                        "id",
                        "the invitation has expired; ask for a new one",
                    ));
                }
                let list = model::lock_exclusive(conn, row.list_id)
                    .await?
                    .ok_or_else(missing)?;
                let members = member_rows(conn, list.id).await?;
                if let Some(member) = members.iter().find(|m| m.user_id == user.id) {
                    // Already in (e.g. invited twice under two spellings).
                    invitation::answer(conn, id, true, at).await?;
                    let membership = Membership {
                        list,
                        member: member.clone(),
                    };
                    return Ok((membership, events::Recorded::default()));
                }
                if members.len() >= MAX_MEMBERS {
                    return Err(ListError::invalid(
                        "id",
                        format!("a list may have at most {MAX_MEMBERS} members"),
                    ));
                }
                if model::count_memberships(conn, user.id).await? >= MAX_LISTS_PER_USER {
                    return Err(ListError::invalid(
                        "id",
                        format!("a user may be a member of at most {MAX_LISTS_PER_USER} lists"),
                    ));
                }
                let last = model::last_position(conn, user.id).await?;
                let last = last.as_deref().map(PositionKey::parse).transpose()?;
                let member = model::insert_member(
                    conn,
                    &MemberRow {
                        list_id: list.id,
                        user_id: user.id,
                        role: row.role.clone(),
                        position: position::key_between(last.as_ref(), None)?.into_string(),
                        joined_at: at,
                    },
                )
                .await?;
                invitation::answer(conn, id, true, at).await?;
                let list = model::touch(conn, list.id, at).await?;
                let mut changes =
                    list_changes(&list, std::slice::from_ref(&member), ListAction::Granted);
                changes.extend(list_changes(&list, &members, ListAction::Updated));
                let recorded = events::record(conn, changes).await?;
                Ok((Membership { list, member }, recorded))
            })
            .await?;
        Ok(self.commit(&mut conn, outcome).await)
    }

    /// Declines (the invitee, verified) or withdraws (the list's OWNER)
    /// invitation `id`; whether it was pending.
    #[tracing::instrument(skip_all, fields(user.id = %user.id, invitation.id = %id))]
    pub async fn cancel(&self, user: &User, id: Uuid) -> Result<bool, ListError> {
        let mut conn = self.db.conn().await?;
        conn.transaction::<_, ListError, _>(async |conn| {
            let row = invitation::lock(conn, id).await?.ok_or_else(missing)?;
            if addressed_to(&row, user) {
                if !user.email_verified() {
                    return Err(ListError::EmailNotVerified);
                }
            } else {
                let role = model::member(conn, row.list_id, user.id)
                    .await?
                    .map(|m| m.role());
                match crate::lists::access::authorize(role, Action::Invite) {
                    Ok(_) => {}
                    Err(crate::lists::access::Denied::Missing) => return Err(missing()),
                    Err(denied) => return Err(denied.into()),
                }
            }
            let at = now();
            if !row.pending(at) {
                return Ok(false);
            }
            invitation::answer(conn, id, false, at).await?;
            Ok(true)
        })
        .await
    }
}
