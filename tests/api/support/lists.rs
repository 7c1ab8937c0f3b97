//! Lists, sharing and manual order as the tests of `contract/lists.graphql`
//! use them: list and invitation mutations over GraphQL as a user, a
//! list's todos in a given order, `moveTodo`, marking an email verified in
//! the database, and plain SQL reads of a test database ([`Pg`]).

use serde_json::{Value, json};

use super::app::{TestApp, TestUser};

/// The scalar fields of `TodoList` and its owner.
pub const LIST_FIELDS: &str = "id name isDefault role position version createdAt updatedAt
    owner { id email displayName }";

/// What the tests select of a `ListInvitation`.
pub const INVITATION_FIELDS: &str = "id email role createdAt expiresAt list { id name }
    invitedBy { id email displayName }";

/// What the tests select of a todo of a list.
pub const LIST_TODO_FIELDS: &str = "id title completed version position list { id }";

impl TestApp {
    /// Marks `user`'s email verified, as `verifyEmail` would.
    pub async fn verify_email_in_db(&self, user: &TestUser) {
        self.sql(&format!(
            "UPDATE users SET email_verified_at = now() WHERE id = '{}'",
            user.id
        ))
        .await;
    }

    /// `createList`, returning the whole body.
    pub async fn try_create_list(&self, user: &TestUser, name: &str) -> Value {
        self.gql_as(
            user,
            &format!(
                "mutation($input: CreateListInput!) {{ createList(input: $input) {{ {LIST_FIELDS} }} }}"
            ),
            json!({ "input": { "name": name } }),
        )
        .await
    }

    /// `createList` that must succeed; returns the list.
    pub async fn create_list(&self, user: &TestUser, name: &str) -> Value {
        let body = self.try_create_list(user, name).await;
        assert!(body["errors"].is_null(), "createList failed: {body}");
        body["data"]["createList"].clone()
    }

    /// `createList` that must succeed; returns the list's id.
    pub async fn create_list_id(&self, user: &TestUser, name: &str) -> String {
        id_of(&self.create_list(user, name).await)
    }

    /// `lists(first: 100)`: every list of `user`, in order.
    pub async fn lists_of(&self, user: &TestUser) -> Vec<Value> {
        let data = self
            .data_as(
                user,
                &format!("{{ lists(first: 100) {{ totalCount nodes {{ {LIST_FIELDS} }} }} }}"),
                json!({}),
            )
            .await;
        let nodes = data["lists"]["nodes"].as_array().unwrap().clone();
        assert_eq!(data["lists"]["totalCount"], nodes.len(), "{data}");
        nodes
    }

    /// The ids of `user`'s lists, in order.
    pub async fn list_ids_of(&self, user: &TestUser) -> Vec<String> {
        self.lists_of(user).await.iter().map(id_of).collect()
    }

    /// The id of `user`'s default list (the first of `lists`).
    pub async fn default_list_id(&self, user: &TestUser) -> String {
        let lists = self.lists_of(user).await;
        assert_eq!(lists[0]["isDefault"], true, "{lists:?}");
        id_of(&lists[0])
    }

    /// `list(id:)` with [`LIST_FIELDS`] and the members; `Null` when absent.
    pub async fn get_list(&self, user: &TestUser, id: &str) -> Value {
        self.data_as(
            user,
            &format!(
                "query($id: ID!) {{ list(id: $id) {{ {LIST_FIELDS}
                    members {{ role joinedAt user {{ id email displayName }} }} }} }}"
            ),
            json!({ "id": id }),
        )
        .await["list"]
            .clone()
    }

    /// `updateList`, returning the whole body.
    pub async fn update_list(&self, user: &TestUser, id: &str, input: Value) -> Value {
        self.gql_as(
            user,
            &format!(
                "mutation($id: ID!, $input: UpdateListInput!) {{
                    updateList(id: $id, input: $input) {{ {LIST_FIELDS} }} }}"
            ),
            json!({ "id": id, "input": input }),
        )
        .await
    }

    /// `deleteList`, returning the whole body.
    pub async fn delete_list(&self, user: &TestUser, id: &str) -> Value {
        self.gql_as(
            user,
            "mutation($id: ID!) { deleteList(id: $id) }",
            json!({ "id": id }),
        )
        .await
    }

    /// `inviteToList`, returning the whole body.
    pub async fn invite(&self, owner: &TestUser, list: &str, email: &str, role: &str) -> Value {
        self.gql_as(
            owner,
            &format!(
                "mutation($list: ID!, $email: String!, $role: ListRole!) {{
                    inviteToList(listId: $list, email: $email, role: $role) {{ {INVITATION_FIELDS} }} }}"
            ),
            json!({ "list": list, "email": email, "role": role }),
        )
        .await
    }

    /// `inviteToList` that must succeed; returns the invitation.
    pub async fn invite_ok(&self, owner: &TestUser, list: &str, email: &str, role: &str) -> Value {
        let body = self.invite(owner, list, email, role).await;
        assert!(body["errors"].is_null(), "inviteToList failed: {body}");
        body["data"]["inviteToList"].clone()
    }

    /// `acceptInvitation`, returning the whole body.
    pub async fn accept_invitation(&self, user: &TestUser, id: &str) -> Value {
        self.gql_as(
            user,
            &format!("mutation($id: ID!) {{ acceptInvitation(id: $id) {{ {LIST_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await
    }

    /// `cancelInvitation`, returning the whole body.
    pub async fn cancel_invitation(&self, user: &TestUser, id: &str) -> Value {
        self.gql_as(
            user,
            "mutation($id: ID!) { cancelInvitation(id: $id) }",
            json!({ "id": id }),
        )
        .await
    }

    /// `invitations` of `user`, which must succeed.
    pub async fn invitations_of(&self, user: &TestUser) -> Vec<Value> {
        self.data_as(
            user,
            &format!("{{ invitations {{ {INVITATION_FIELDS} }} }}"),
            json!({}),
        )
        .await["invitations"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Makes `member` a member of `list` with `role`: marks its email
    /// verified, `owner` invites it and it accepts. Returns the list as
    /// `acceptInvitation` answered it.
    pub async fn invite_and_accept(
        &self,
        owner: &TestUser,
        list: &str,
        member: &TestUser,
        role: &str,
    ) -> Value {
        self.verify_email_in_db(member).await;
        let invitation = self.invite_ok(owner, list, &member.email, role).await;
        let body = self
            .accept_invitation(member, invitation["id"].as_str().unwrap())
            .await;
        assert!(body["errors"].is_null(), "acceptInvitation failed: {body}");
        let joined = body["data"]["acceptInvitation"].clone();
        assert_eq!(joined["id"], list, "{joined}");
        assert_eq!(joined["role"], role, "{joined}");
        joined
    }

    /// `removeMember`, returning the whole body.
    pub async fn remove_member(&self, user: &TestUser, list: &str, member: &str) -> Value {
        self.gql_as(
            user,
            "mutation($list: ID!, $user: ID!) { removeMember(listId: $list, userId: $user) }",
            json!({ "list": list, "user": member }),
        )
        .await
    }

    /// `changeMemberRole`, returning the whole body.
    pub async fn change_member_role(
        &self,
        user: &TestUser,
        list: &str,
        member: &str,
        role: &str,
    ) -> Value {
        self.gql_as(
            user,
            "mutation($list: ID!, $user: ID!, $role: ListRole!) {
                changeMemberRole(listId: $list, userId: $user, role: $role) {
                    role joinedAt user { id email } } }",
            json!({ "list": list, "user": member, "role": role }),
        )
        .await
    }

    /// `transferList`, returning the whole body.
    pub async fn transfer_list(&self, user: &TestUser, list: &str, to: &str) -> Value {
        self.gql_as(
            user,
            &format!(
                "mutation($list: ID!, $user: ID!) {{
                    transferList(listId: $list, userId: $user) {{ {LIST_FIELDS} }} }}"
            ),
            json!({ "list": list, "user": to }),
        )
        .await
    }

    /// `createTodo` in `list`, returning the whole body.
    pub async fn try_create_todo_in(&self, user: &TestUser, list: &str, title: &str) -> Value {
        self.gql_as(
            user,
            &format!(
                "mutation($input: CreateTodoInput!) {{ createTodo(input: $input) {{
                    {LIST_TODO_FIELDS} createdBy {{ id email displayName }} }} }}"
            ),
            json!({ "input": { "title": title, "listId": list } }),
        )
        .await
    }

    /// `createTodo` in `list` that must succeed; returns the todo's id.
    pub async fn create_todo_in(&self, user: &TestUser, list: &str, title: &str) -> String {
        let body = self.try_create_todo_in(user, list, title).await;
        assert!(
            body["errors"].is_null(),
            "createTodo in {list} failed: {body}"
        );
        assert_eq!(body["data"]["createTodo"]["list"]["id"], list, "{body}");
        id_of(&body["data"]["createTodo"])
    }

    /// `moveTodo`, returning the whole body.
    pub async fn move_todo(&self, user: &TestUser, id: &str, input: Value) -> Value {
        self.gql_as(
            user,
            &format!(
                "mutation($id: ID!, $input: MoveTodoInput!) {{
                    moveTodo(id: $id, input: $input) {{ {LIST_TODO_FIELDS} }} }}"
            ),
            json!({ "id": id, "input": input }),
        )
        .await
    }

    /// `moveTodo` that must succeed; returns the todo.
    pub async fn move_todo_ok(&self, user: &TestUser, id: &str, input: Value) -> Value {
        let body = self.move_todo(user, id, input.clone()).await;
        assert!(body["errors"].is_null(), "moveTodo {input} failed: {body}");
        body["data"]["moveTodo"].clone()
    }

    /// The todos of `list` in `order` (`TodoOrder`), first 100, as `user`.
    pub async fn list_todos(&self, user: &TestUser, list: &str, order: &str) -> Vec<Value> {
        let data = self
            .data_as(
                user,
                &format!(
                    "query($id: ID!) {{ list(id: $id) {{ todos(first: 100, orderBy: {order}) {{
                        totalCount nodes {{ {LIST_TODO_FIELDS} }} }} }} }}"
                ),
                json!({ "id": list }),
            )
            .await;
        let todos = &data["list"]["todos"];
        assert!(todos.is_object(), "list {list} not readable: {data}");
        let nodes = todos["nodes"].as_array().unwrap().clone();
        assert_eq!(todos["totalCount"], nodes.len(), "{data}");
        nodes
    }

    /// The titles of `list`'s todos in their manual order (POSITION).
    pub async fn list_todos_titles(&self, user: &TestUser, list: &str) -> Vec<String> {
        self.list_todos(user, list, "POSITION")
            .await
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The ids of `list`'s todos in their manual order (POSITION).
    pub async fn list_todo_ids(&self, user: &TestUser, list: &str) -> Vec<String> {
        self.list_todos(user, list, "POSITION")
            .await
            .iter()
            .map(id_of)
            .collect()
    }
}

/// The `id` of a JSON object, as text.
pub fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}

/// A plain connection to a test database, every value read as text (for
/// checking rows and setting up states through SQL). Writes made here
/// bypass the app's read cache: use [`TestApp::sql`] for those that an app
/// may have cached reads of.
pub struct Pg {
    client: tokio_postgres::Client,
}

impl Pg {
    /// Connects to `database_url`.
    pub async fn connect(database_url: &str) -> Self {
        let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        Self { client }
    }

    /// Every row of `sql`, every column as text.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    /// The first column of every row.
    pub async fn column(&self, sql: &str) -> Vec<Option<String>> {
        self.rows(sql)
            .await
            .into_iter()
            .map(|row| row.into_iter().next().flatten())
            .collect()
    }

    /// The first column of the first row.
    pub async fn value(&self, sql: &str) -> Option<String> {
        self.column(sql).await.into_iter().next().flatten()
    }

    /// `SELECT count(*) …` (or any single integer).
    pub async fn count(&self, sql: &str) -> i64 {
        self.value(sql)
            .await
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("not a count: {sql}"))
    }

    /// Runs statements, returning nothing.
    pub async fn exec(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}
