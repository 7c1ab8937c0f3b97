"""The client of benches/instructions/run.sh, on one keep-alive connection.

    client.py PORT TOKEN_FILE N setup|list|listid|update|create

`setup` registers a user with 25 todos and writes its token, its default
list's id and its first todo's id to TOKEN_FILE; `list` and `listid` send
the bench's list query (benches/load/main.rs, LIST_QUERY and
SHARED_LIST_QUERY) N times, `update` its UPDATE_MUTATION (a new title and
the version the last one returned, as the bench does), `create` its
CREATE_MUTATION (a new todo at the top of the default list each time),
and all stop at the first error. `create` adds todos to the user's list:
run it after the other modes.
"""

import http.client
import json
import sys
import uuid

LIST = "{ todos(first: 20) { totalCount nodes { id title completed owner { email } } } }"
LIST_ID = (
    "query($id: ID!) { list(id: $id) { todos(first: 20, orderBy: POSITION) "
    "{ totalCount nodes { id title completed owner { email } } } } }"
)
CREATE = (
    "mutation($t: String!) { createTodo(input: {title: $t}) "
    "{ id title completed version } }"
)
UPDATE = (
    "mutation($id: ID!, $t: String!, $v: Int!) { updateTodo(id: $id, "
    "input: {title: $t, expectedVersion: $v}) { id version } }"
)


def main():
    port, token_file, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    conn = http.client.HTTPConnection("127.0.0.1", int(port))

    def gql(query, variables=None, token=None):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = "Bearer " + token
        body = json.dumps({"query": query, "variables": variables or {}})
        conn.request("POST", "/graphql", body, headers)
        answer = json.loads(conn.getresponse().read())
        if answer.get("errors") or not answer.get("data"):
            sys.exit(f"request failed: {answer}")
        return answer["data"]

    if mode == "setup":
        email = f"instructions-{uuid.uuid4().hex[:8]}@example.com"
        data = gql(
            "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
            {"i": {"email": email, "password": "correct horse battery"}},
        )
        token = data["register"]["accessToken"]
        todos = [
            gql(
                "mutation($t: String!) { createTodo(input: {title: $t}) { id } }",
                {"t": f"todo {i}"},
                token,
            )["createTodo"]["id"]
            for i in range(25)
        ]
        lists = gql("{ lists(first: 1) { edges { node { id } } } }", None, token)
        list_id = lists["lists"]["edges"][0]["node"]["id"]
        with open(token_file, "w") as f:
            f.write(token + "\n" + list_id + "\n" + todos[0])
        return
    with open(token_file) as f:
        token, list_id, todo_id = f.read().split("\n")
    version = None
    if mode == "update":
        found = gql("query($id: ID!) { todo(id: $id) { version } }", {"id": todo_id}, token)
        version = found["todo"]["version"]
    for i in range(n):
        if mode == "list":
            gql(LIST, None, token)
        elif mode == "listid":
            gql(LIST_ID, {"id": list_id}, token)
        elif mode == "create":
            gql(CREATE, {"t": f"created {uuid.uuid4().hex}"}, token)
        elif mode == "update":
            variables = {"id": todo_id, "t": f"title {uuid.uuid4().hex}", "v": version}
            version = gql(UPDATE, variables, token)["updateTodo"]["version"]
        else:
            sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
