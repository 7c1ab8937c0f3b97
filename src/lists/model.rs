//! Diesel rows and queries for lists, their members and invitations.
//! Queries that decide access return the caller's membership; the decision
//! itself is [`super::access::authorize`]'s.

use chrono::{DateTime, Utc};
use diesel::{
    pg::Pg,
    prelude::*,
    query_builder::AstPass,
    sql_types::{self, Array},
};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::access::Role;
use crate::{
    auth::model::{SELECT_USERS, User},
    db::{
        Conn,
        fixed::{Fixed, FixedText},
    },
    schema::{list_members, lists, users},
};

/// A list row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = lists, check_for_backend(diesel::pg::Pg))]
pub struct ListRow {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// The OWNER.
    pub owner_id: Uuid,
    /// Version.
    pub version: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A membership row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = list_members, check_for_backend(diesel::pg::Pg))]
pub struct MemberRow {
    /// The list.
    pub list_id: Uuid,
    /// The member.
    pub user_id: Uuid,
    /// `OWNER`, `EDITOR` or `VIEWER`.
    pub role: String,
    /// The list's place in the member's sidebar.
    pub position: String,
    /// Joined.
    pub joined_at: DateTime<Utc>,
}

impl MemberRow {
    /// The role.
    pub fn role(&self) -> Role {
        Role::from_db(&self.role)
    }
}

/// A list as one member sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The list.
    pub list: ListRow,
    /// The member's row.
    pub member: MemberRow,
}

/// A member with the account details collaborators see.
#[derive(Debug, Clone, Queryable, PartialEq, Eq)]
pub struct MemberWithUser {
    /// The membership.
    pub member: MemberRow,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: Option<String>,
}

/// The name of the advisory lock that orders a list's todo writes (shared)
/// against its membership changes and deletion (exclusive).
pub fn audience_lock(list: Uuid) -> String {
    format!("list-audience:{}", list.simple())
}

/// The members of a list who see its changes: `(user, role)` in user-id
/// order. Takes the list's audience lock shared until the transaction
/// ends: concurrent todo writes do not block each other, but a membership
/// change (which takes it exclusive, [`lock_exclusive`]) waits for them
/// and they for it, so no event of a list is ever written for someone
/// removed before it committed. The members are read after the lock is
/// granted, in a statement of their own, so they are the ones a membership
/// change just committed (READ COMMITTED takes a snapshot per statement).
/// Empty when the list does not exist.
///
/// The two statements are pipelined (one write, one round trip): the
/// server still runs the read only once the lock is granted, and gives it
/// its own snapshot then, exactly as if it had been sent after the lock's
/// answer came back.
pub async fn lock_audience(mut conn: &Conn, list: Uuid) -> QueryResult<Vec<(Uuid, Role)>> {
    let key = audience_lock(list);
    let (_, rows): (_, Vec<(Uuid, String)>) = futures_util::try_join!(
        crate::db::advisory_xact_lock_shared(conn, &key),
        Fixed::<MembersOfList>::new(list).load(&mut conn),
    )?;
    Ok(rows
        .into_iter()
        .map(|(user, role)| (user, Role::from_db(&role)))
        .collect())
}

/// [`lock_audience`]'s read of the members (every write to a list sends
/// it): `list_members` of the list, `(user_id, role)` by user id.
struct MembersOfList;

impl FixedText for MembersOfList {
    type SqlType = (sql_types::Uuid, sql_types::Text);
    type Binds<'a> = Uuid;

    fn walk<'b>(list: &'b Uuid, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT \"list_members\".\"user_id\", \"list_members\".\"role\" \
             FROM \"list_members\" WHERE (\"list_members\".\"list_id\" = ",
        );
        out.push_bind_param::<sql_types::Uuid, _>(list)?;
        out.push_sql(") ORDER BY \"list_members\".\"user_id\" ASC");
        Ok(())
    }
}

/// Locks a list against membership changes, deletion and todo writes (the
/// audience lock exclusive, then the row FOR UPDATE), returning it.
pub async fn lock_exclusive(conn: &mut Conn, list: Uuid) -> QueryResult<Option<ListRow>> {
    crate::db::advisory_xact_lock(conn, &audience_lock(list)).await?;
    lists::table
        .find(list)
        .select(ListRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Locks a list row for a change of the row itself (FOR NO KEY UPDATE;
/// todo writes go on).
pub async fn lock_for_rename(conn: &mut Conn, list: Uuid) -> QueryResult<Option<ListRow>> {
    lists::table
        .find(list)
        .select(ListRow::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()
}

/// Memberships for several (user, list) pairs at once (the DataLoader's
/// batch): one query.
pub async fn memberships_for(
    mut conn: &Conn,
    pairs: &[(Uuid, Uuid)],
) -> QueryResult<Vec<Membership>> {
    let users_: Vec<Uuid> = pairs.iter().map(|p| p.0).collect();
    let lists_: Vec<Uuid> = pairs.iter().map(|p| p.1).collect();
    let rows: Vec<(ListRow, MemberRow)> = Fixed::<MembershipsOf>::new((&users_, &lists_))
        .load(&mut conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(l, m)| pairs.contains(&(m.user_id, l.id)))
        .map(|(list, member)| Membership { list, member })
        .collect())
}

/// [`memberships_for`]'s statement (every request about a list reads its
/// caller's membership so): `lists ⋈ list_members` where the member is one
/// of the users and the list one of the lists.
struct MembershipsOf;

impl FixedText for MembershipsOf {
    type SqlType = (
        diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<ListRow, Pg>>,
        diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<MemberRow, Pg>>,
    );
    type Binds<'a> = (&'a [Uuid], &'a [Uuid]);

    fn walk<'b>(
        (users_, lists_): &'b (&[Uuid], &[Uuid]),
        mut out: AstPass<'_, 'b, Pg>,
    ) -> QueryResult<()> {
        out.push_sql(
            "SELECT \"lists\".\"id\", \"lists\".\"name\", \"lists\".\"owner_id\", \
             \"lists\".\"version\", \"lists\".\"created_at\", \"lists\".\"updated_at\", \
             \"list_members\".\"list_id\", \"list_members\".\"user_id\", \"list_members\".\"role\", \
             \"list_members\".\"position\", \"list_members\".\"joined_at\" \
             FROM (\"lists\" INNER JOIN \"list_members\" \
             ON (\"list_members\".\"list_id\" = \"lists\".\"id\")) \
             WHERE ((\"list_members\".\"user_id\" = ANY(",
        );
        out.push_bind_param::<Array<sql_types::Uuid>, _>(users_)?;
        out.push_sql(")) AND (\"lists\".\"id\" = ANY(");
        out.push_bind_param::<Array<sql_types::Uuid>, _>(lists_)?;
        out.push_sql(")))");
        Ok(())
    }
}

/// Every membership of `user` (at most the per-user limit of lists).
pub async fn memberships_of(conn: &mut Conn, user: Uuid) -> QueryResult<Vec<Membership>> {
    let rows: Vec<(ListRow, MemberRow)> = lists::table
        .inner_join(list_members::table)
        .filter(list_members::user_id.eq(user))
        .select((ListRow::as_select(), MemberRow::as_select()))
        .order((list_members::position.asc(), lists::id.asc()))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(list, member)| Membership { list, member })
        .collect())
}

/// How many lists `user` is a member of.
pub async fn count_memberships(conn: &mut Conn, user: Uuid) -> QueryResult<i64> {
    list_members::table
        .filter(list_members::user_id.eq(user))
        .count()
        .get_result(conn)
        .await
}

/// The members of several lists with their account details, in join order.
pub async fn members_of(conn: &mut Conn, lists_: &[Uuid]) -> QueryResult<Vec<MemberWithUser>> {
    list_members::table
        .inner_join(users::table)
        .filter(list_members::list_id.eq_any(lists_))
        .order((list_members::joined_at.asc(), list_members::user_id.asc()))
        .select((MemberRow::as_select(), users::email, users::display_name))
        .load(conn)
        .await
}

/// The accounts of `list`'s members, if `member` is one of them (none
/// otherwise: the statement checks it itself, so it may be sent before the
/// membership's answer is known). A fixed text, so it pipelines.
pub async fn member_users(mut conn: &Conn, list: Uuid, member: Uuid) -> QueryResult<Vec<User>> {
    Fixed::<MemberUsers>::new((list, member))
        .load(&mut conn)
        .await
}

/// [`member_users`]'s statement: the users who are members of the list,
/// if the second user is one of them.
struct MemberUsers;

impl FixedText for MemberUsers {
    type SqlType = diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<User, Pg>>;
    type Binds<'a> = (Uuid, Uuid);

    fn walk<'b>((list, member): &'b (Uuid, Uuid), mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(SELECT_USERS);
        out.push_sql(
            " WHERE ((\"users\".\"id\" = ANY(SELECT \"list_members\".\"user_id\" \
             FROM \"list_members\" WHERE (\"list_members\".\"list_id\" = ",
        );
        out.push_bind_param::<sql_types::Uuid, _>(list)?;
        out.push_sql(
            "))) AND EXISTS (SELECT \"list_members\".\"list_id\", \"list_members\".\"user_id\", \
             \"list_members\".\"role\", \"list_members\".\"position\", \"list_members\".\"joined_at\" \
             FROM \"list_members\" WHERE ((\"list_members\".\"list_id\" = ",
        );
        out.push_bind_param::<sql_types::Uuid, _>(list)?;
        out.push_sql(") AND (\"list_members\".\"user_id\" = ");
        out.push_bind_param::<sql_types::Uuid, _>(member)?;
        out.push_sql("))))");
        Ok(())
    }
}

/// The last sidebar position of `user`'s lists.
pub async fn last_position(conn: &mut Conn, user: Uuid) -> QueryResult<Option<String>> {
    list_members::table
        .filter(list_members::user_id.eq(user))
        .select(diesel::dsl::max(list_members::position))
        .first(conn)
        .await
}

/// Inserts a list unless its id is taken (then `None`; the unique index
/// decides between concurrent inserts of one client-chosen id).
pub async fn insert_list_new(conn: &mut Conn, list: &ListRow) -> QueryResult<Option<ListRow>> {
    diesel::insert_into(lists::table)
        .values(list)
        .on_conflict(lists::id)
        .do_nothing()
        .returning(ListRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// A list by id, whoever its members.
pub async fn find_list(conn: &mut Conn, list: Uuid) -> QueryResult<Option<ListRow>> {
    lists::table
        .find(list)
        .select(ListRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts a membership.
pub async fn insert_member(conn: &mut Conn, member: &MemberRow) -> QueryResult<MemberRow> {
    diesel::insert_into(list_members::table)
        .values(member)
        .returning(MemberRow::as_returning())
        .get_result(conn)
        .await
}

/// What a change of the list row itself sets besides its version.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = lists)]
pub struct ListChanges<'a> {
    /// A new name.
    pub name: Option<&'a str>,
    /// A new OWNER (the OWNER member changes in the same transaction).
    pub owner_id: Option<Uuid>,
    /// The change time.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Changes a list row (its name, owner, or nothing but the fact that its
/// members changed), bumping its version.
pub async fn bump(conn: &mut Conn, list: Uuid, changes: &ListChanges<'_>) -> QueryResult<ListRow> {
    diesel::update(lists::table.find(list))
        .set((changes, lists::version.eq(lists::version + 1)))
        .returning(ListRow::as_returning())
        .get_result(conn)
        .await
}

/// Moves a list in one member's sidebar.
pub async fn set_member_position(
    conn: &mut Conn,
    list: Uuid,
    user: Uuid,
    position: &str,
) -> QueryResult<Option<MemberRow>> {
    diesel::update(list_members::table.find((list, user)))
        .set(list_members::position.eq(position))
        .returning(MemberRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Changes a member's role.
pub async fn set_role(
    conn: &mut Conn,
    list: Uuid,
    user: Uuid,
    role: Role,
) -> QueryResult<Option<MemberRow>> {
    diesel::update(list_members::table.find((list, user)))
        .set(list_members::role.eq(role.as_str()))
        .returning(MemberRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Removes a member; whether there was one.
pub async fn delete_member(conn: &mut Conn, list: Uuid, user: Uuid) -> QueryResult<bool> {
    let n = diesel::delete(list_members::table.find((list, user)))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Deletes a list (its todos, members and invitations go with it).
pub async fn delete_list(conn: &mut Conn, list: Uuid) -> QueryResult<bool> {
    let n = diesel::delete(lists::table.find(list))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// The membership row of `user` in `list`.
pub async fn member(conn: &mut Conn, list: Uuid, user: Uuid) -> QueryResult<Option<MemberRow>> {
    list_members::table
        .find((list, user))
        .select(MemberRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The default list of `user`.
pub async fn default_list_of(conn: &mut Conn, user: Uuid) -> QueryResult<Uuid> {
    users::table
        .find(user)
        .select(users::default_list_id)
        .first(conn)
        .await
}

#[cfg(test)]
mod tests {
    use diesel::debug_query;

    use super::*;

    #[test]
    fn the_memberships_text_is_the_one_diesel_writes() {
        let users_ = [Uuid::from_u128(1), Uuid::from_u128(2)];
        let lists_ = [Uuid::from_u128(3), Uuid::from_u128(4)];
        let dsl = lists::table
            .inner_join(list_members::table)
            .filter(list_members::user_id.eq_any(&users_[..]))
            .filter(lists::id.eq_any(&lists_[..]))
            .select((ListRow::as_select(), MemberRow::as_select()));
        assert_eq!(
            debug_query::<Pg, _>(&Fixed::<MembershipsOf>::new((&users_, &lists_))).to_string(),
            debug_query::<Pg, _>(&dsl).to_string()
        );
    }

    #[test]
    fn the_members_of_list_text_is_the_one_diesel_writes() {
        let list = Uuid::from_u128(5);
        let dsl = list_members::table
            .filter(list_members::list_id.eq(list))
            .select((list_members::user_id, list_members::role))
            .order(list_members::user_id.asc());
        assert_eq!(
            debug_query::<Pg, _>(&Fixed::<MembersOfList>::new(list)).to_string(),
            debug_query::<Pg, _>(&dsl).to_string()
        );
    }

    #[test]
    fn the_member_users_text_is_the_one_diesel_writes() {
        let (list, member) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let dsl = users::table
            .filter(
                users::id.eq_any(
                    list_members::table
                        .filter(list_members::list_id.eq(list))
                        .select(list_members::user_id),
                ),
            )
            .filter(diesel::dsl::exists(
                list_members::table.find((list, member)),
            ))
            .select(User::as_select());
        assert_eq!(
            debug_query::<Pg, _>(&Fixed::<MemberUsers>::new((list, member))).to_string(),
            debug_query::<Pg, _>(&dsl).to_string()
        );
    }
}
