-- DB ceiling of createTodo in the list shared by 50 members (users 51 to
-- 100, benches/load/seed.rs; the server's statements as for create.sql,
-- captured with log_statement=all): the audience lock returns the 50
-- members, and the transaction inserts one event row per member in
-- user-id order (the server sends them as one multi-row INSERT with 50
-- snapshots; here one INSERT … SELECT writes the same rows), so its COMMIT
-- locks and numbers 50 user rows, in user-id order. 10 clients (the pool
-- size), each a member of the list.
\set u random(51, 100)
SELECT "users"."id", "users"."email", "users"."password_hash", "users"."display_name", "users"."created_at", "users"."updated_at", "users"."event_seq", "users"."default_list_id", "users"."email_verified_at" FROM "users" WHERE ("users"."id" = ANY(ARRAY[('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid])) \gset
BEGIN;
SELECT "list_members"."user_id", "list_members"."role" FROM ("lists" INNER JOIN "list_members" ON ("list_members"."list_id" = "lists"."id")) WHERE ("lists"."id" = '00000000-0000-4000-a000-000000051050') ORDER BY "list_members"."user_id" ASC FOR KEY SHARE;
SELECT min("todos"."position") FROM "todos" WHERE ("todos"."list_id" = '00000000-0000-4000-a000-000000051050') LIMIT 1;
INSERT INTO "todos" ("id", "owner_id", "list_id", "position", "title", "description", "due_at", "created_at", "updated_at") VALUES (gen_random_uuid(), :id, '00000000-0000-4000-a000-000000051050', 'Zx', 'pgbench todo', DEFAULT, DEFAULT, now(), now()) RETURNING "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version", "todos"."list_id", "todos"."position" \gset t_
WITH ins AS (INSERT INTO "todo_events" ("user_id", "kind", "todo_id", "snapshot", "occurred_at", "list_id", "from_list_id") SELECT m.user_id, 'CREATED', :t_id, '{"id": "01a23b5c-08f6-7343-9d4e-2316e461d58c", "title": "pgbench todo", "due_at": null, "list_id": "01a23b5c-0435-75f3-934e-b27df3f7f92a", "version": 1, "owner_id": "01a23b5c-040a-70a7-a487-f331c6f63772", "position": "Zx", "completed": false, "created_at": "2026-12-03T10:03:37.076944Z", "updated_at": "2026-12-03T10:03:37.076944Z", "description": null, "completed_at": null}', now(), m.list_id, NULL FROM list_members m WHERE m.list_id = '00000000-0000-4000-a000-000000051050' ORDER BY m.user_id RETURNING "todo_events"."id") SELECT array_agg(id) AS eids FROM ins \gset
COMMIT;
SELECT "todo_events"."id", "todo_events"."seq" FROM "todo_events" WHERE (("todo_events"."id" = ANY(:eids::int8[])) AND ("todo_events"."seq" IS NOT NULL));
