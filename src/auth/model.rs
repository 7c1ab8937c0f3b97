//! Diesel rows and queries for users, refresh tokens, password resets and
//! email verification codes.

use chrono::{DateTime, Utc};
use diesel::{
    pg::Pg,
    prelude::*,
    query_builder::AstPass,
    sql_types::{self, Array},
};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::{
    db::{
        Conn,
        fixed::{Fixed, FixedText},
    },
    schema::{email_verification_codes, refresh_tokens, users},
};

diesel::define_sql_function! {
    /// SQL `lower(text)`, to match the case-insensitive email index.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A user row.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Email as entered.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The last event number of the user's feed: grows with every change
    /// to any list the user is a member of, in the same transaction, so it
    /// versions everything the user can read.
    pub event_seq: i64,
    /// The user's default list.
    pub default_list_id: Uuid,
    /// When the owner proved the address is theirs (`None`: unverified).
    pub email_verified_at: Option<DateTime<Utc>>,
}

impl User {
    /// Whether the owner proved the address is theirs.
    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}

/// A user to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Email as entered.
    pub email: &'a str,
    /// Argon2id PHC string.
    pub password_hash: &'a str,
    /// Display name.
    pub display_name: Option<&'a str>,
}

/// Inserts a user; a unique violation means the email is taken.
pub async fn insert_user(conn: &mut Conn, user: &NewUser<'_>) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values(user)
        .returning(User::as_returning())
        .get_result(conn)
        .await
}

/// The user with this email, compared case-insensitively.
pub async fn find_by_email(conn: &mut Conn, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(lower(users::email).eq(lower(email)))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// The users with these ids (in no particular order; missing ones absent).
/// Every authenticated request reads its caller's row so: a fixed text.
pub async fn find_by_ids(mut conn: &Conn, ids: &[Uuid]) -> QueryResult<Vec<User>> {
    Fixed::<UsersByIds>::new(ids).load(&mut conn).await
}

/// `SELECT` a [`User`]'s columns (as diesel writes `User::as_select()`)
/// `FROM "users"`: the start of every fixed statement that reads users.
pub const SELECT_USERS: &str = "SELECT \"users\".\"id\", \"users\".\"email\", \
    \"users\".\"password_hash\", \"users\".\"display_name\", \"users\".\"created_at\", \
    \"users\".\"updated_at\", \"users\".\"event_seq\", \"users\".\"default_list_id\", \
    \"users\".\"email_verified_at\" FROM \"users\"";

/// [`find_by_ids`]'s statement: `users.filter(id.eq_any(ids))`.
struct UsersByIds;

impl FixedText for UsersByIds {
    type SqlType = diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<User, Pg>>;
    type Binds<'a> = &'a [Uuid];

    fn walk<'b>(ids: &'b &[Uuid], mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(SELECT_USERS);
        out.push_sql(" WHERE (\"users\".\"id\" = ANY(");
        out.push_bind_param::<Array<sql_types::Uuid>, _>(ids)?;
        out.push_sql("))");
        Ok(())
    }
}

/// A refresh-token row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::pg::Pg))]
pub struct RefreshToken {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Rotation family.
    pub family_id: Uuid,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Set once exchanged for a successor.
    pub rotated_at: Option<DateTime<Utc>>,
    /// Set once revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl RefreshToken {
    /// Neither rotated, revoked nor expired.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.rotated_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A refresh token to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct NewRefreshToken<'a> {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Rotation family.
    pub family_id: Uuid,
    /// SHA-256 of the token.
    pub token_hash: &'a [u8],
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Stores a refresh token.
pub async fn insert_refresh_token(conn: &mut Conn, token: &NewRefreshToken<'_>) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(token)
        .execute(conn)
        .await
        .map(drop)
}

/// The token with this hash, locked for the rest of the transaction so two
/// concurrent exchanges of one token cannot both succeed.
pub async fn lock_refresh_token(conn: &mut Conn, hash: &[u8]) -> QueryResult<Option<RefreshToken>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(RefreshToken::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Marks a token as exchanged.
pub async fn mark_rotated(conn: &mut Conn, id: Uuid, at: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(refresh_tokens::table.find(id))
        .set(refresh_tokens::rotated_at.eq(at))
        .execute(conn)
        .await
        .map(drop)
}

/// Revokes every still-unrevoked token of a family; returns how many.
pub async fn revoke_family(conn: &mut Conn, family: Uuid, at: DateTime<Utc>) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(at))
    .execute(conn)
    .await
}

/// Stores a password-reset token hash.
pub async fn insert_reset(
    conn: &mut Conn,
    user_id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    use crate::schema::password_resets;
    diesel::insert_into(password_resets::table)
        .values((
            password_resets::id.eq(Uuid::now_v7()),
            password_resets::user_id.eq(user_id),
            password_resets::token_hash.eq(token_hash),
            password_resets::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Consumes an unused, unexpired reset token, returning its user.
pub async fn consume_reset(conn: &mut Conn, token_hash: &[u8]) -> QueryResult<Option<Uuid>> {
    use crate::schema::password_resets;
    let now = Utc::now();
    diesel::update(
        password_resets::table.filter(
            password_resets::token_hash
                .eq(token_hash)
                .and(password_resets::used_at.is_null())
                .and(password_resets::expires_at.gt(now)),
        ),
    )
    .set(password_resets::used_at.eq(now))
    .returning(password_resets::user_id)
    .get_result(conn)
    .await
    .optional()
}

/// Marks every outstanding reset token of a user used.
pub async fn void_resets(conn: &mut Conn, user_id: Uuid) -> QueryResult<usize> {
    use crate::schema::password_resets;
    diesel::update(
        password_resets::table.filter(
            password_resets::user_id
                .eq(user_id)
                .and(password_resets::used_at.is_null()),
        ),
    )
    .set(password_resets::used_at.eq(Utc::now()))
    .execute(conn)
    .await
}

/// Replaces a user's password hash.
pub async fn set_password(conn: &mut Conn, user_id: Uuid, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(hash),
            users::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Revokes every active refresh token of a user (all sessions).
pub async fn revoke_all_sessions(conn: &mut Conn, user_id: Uuid) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table.filter(
            refresh_tokens::user_id
                .eq(user_id)
                .and(refresh_tokens::revoked_at.is_null()),
        ),
    )
    .set(refresh_tokens::revoked_at.eq(Utc::now()))
    .execute(conn)
    .await
}

/// The user row, locked against concurrent changes of it for the rest of
/// the transaction (`FOR NO KEY UPDATE`: inserts of rows that reference
/// the user, such as todos, are not blocked). `None` when the user is gone.
pub async fn lock_user(conn: &mut Conn, user_id: Uuid) -> QueryResult<Option<User>> {
    users::table
        .find(user_id)
        .select(User::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()
}

/// Marks the user's email verified; returns the updated row.
pub async fn set_email_verified(
    conn: &mut Conn,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> QueryResult<User> {
    diesel::update(users::table.find(user_id))
        .set((users::email_verified_at.eq(at), users::updated_at.eq(at)))
        .returning(User::as_returning())
        .get_result(conn)
        .await
}

/// Records that a verification email was asked for: a code row whose hash
/// the email job fills in. Returns its id.
pub async fn insert_verification_code(
    conn: &mut Conn,
    user_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> QueryResult<Uuid> {
    use email_verification_codes as c;
    diesel::insert_into(c::table)
        .values((
            c::id.eq(Uuid::now_v7()),
            c::user_id.eq(user_id),
            c::created_at.eq(created_at),
            c::expires_at.eq(expires_at),
        ))
        .returning(c::id)
        .get_result(conn)
        .await
}

/// How many verification emails the user asked for since `since`, and
/// when the oldest of them was asked for.
pub async fn count_verification_codes_since(
    conn: &mut Conn,
    user_id: Uuid,
    since: DateTime<Utc>,
) -> QueryResult<(i64, Option<DateTime<Utc>>)> {
    use diesel::dsl::{count_star, min};
    use email_verification_codes as c;
    c::table
        .filter(c::user_id.eq(user_id).and(c::created_at.gt(since)))
        .select((count_star(), min(c::created_at)))
        .get_result(conn)
        .await
}

/// Cancels the user's outstanding codes (neither used nor cancelled),
/// except `keep`; returns how many.
pub async fn cancel_verification_codes(
    conn: &mut Conn,
    user_id: Uuid,
    keep: Option<Uuid>,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    use email_verification_codes as c;
    diesel::update(
        c::table.filter(
            c::user_id
                .eq(user_id)
                .and(c::used_at.is_null())
                .and(c::cancelled_at.is_null())
                .and(c::id.ne(keep.unwrap_or(Uuid::nil()))),
        ),
    )
    .set(c::cancelled_at.eq(at))
    .execute(conn)
    .await
}

/// Stores the hash of a freshly minted code in an outstanding code row of
/// the user, with its expiry; false when the row is gone, used or
/// cancelled (the email is then stale).
pub async fn mint_verification_code(
    conn: &mut Conn,
    user_id: Uuid,
    code_id: Uuid,
    code_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<bool> {
    use email_verification_codes as c;
    let n = diesel::update(
        c::table.filter(
            c::id
                .eq(code_id)
                .and(c::user_id.eq(user_id))
                .and(c::used_at.is_null())
                .and(c::cancelled_at.is_null()),
        ),
    )
    .set((c::code_hash.eq(code_hash), c::expires_at.eq(expires_at)))
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Uses the user's outstanding, unexpired code with this hash; returns
/// whether there was one.
pub async fn use_verification_code(
    conn: &mut Conn,
    user_id: Uuid,
    code_hash: &[u8],
    at: DateTime<Utc>,
) -> QueryResult<bool> {
    use email_verification_codes as c;
    let n = diesel::update(
        c::table.filter(
            c::user_id
                .eq(user_id)
                .and(c::code_hash.eq(code_hash))
                .and(c::used_at.is_null())
                .and(c::cancelled_at.is_null())
                .and(c::expires_at.gt(at)),
        ),
    )
    .set(c::used_at.eq(at))
    .execute(conn)
    .await?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use diesel::debug_query;

    use super::*;

    #[test]
    fn the_users_by_ids_text_is_the_one_diesel_writes() {
        let ids = [Uuid::from_u128(1), Uuid::from_u128(2)];
        let dsl = users::table
            .filter(users::id.eq_any(&ids[..]))
            .select(User::as_select());
        assert_eq!(
            debug_query::<Pg, _>(&Fixed::<UsersByIds>::new(&ids[..])).to_string(),
            debug_query::<Pg, _>(&dsl).to_string()
        );
    }
}
