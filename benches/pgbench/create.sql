-- DB ceiling of createTodo (default list): the viewer lookup (which names
-- the default list), then the transaction that locks the list's audience
-- (FOR KEY SHARE: only the owner, in a default list), reads the first
-- position, inserts the todo and one (unnumbered) event row per member with
-- the todo's snapshot; COMMIT numbers the event (the deferred trigger
-- `todo_events_number` locks the user row only inside the commit), and the
-- number is read back for publishing. As captured with log_statement=all
-- (docs/benchmarks.md). The position is a constant: the server computes a
-- key before the first, which costs the database nothing more.
\set u random(1, 100)
SELECT "users"."id", "users"."email", "users"."password_hash", "users"."display_name", "users"."created_at", "users"."updated_at", "users"."event_seq", "users"."default_list_id", "users"."email_verified_at" FROM "users" WHERE ("users"."id" = ANY(ARRAY[('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid])) \gset
BEGIN;
SELECT "list_members"."user_id", "list_members"."role" FROM ("lists" INNER JOIN "list_members" ON ("list_members"."list_id" = "lists"."id")) WHERE ("lists"."id" = :default_list_id) ORDER BY "list_members"."user_id" ASC FOR KEY SHARE;
SELECT min("todos"."position") FROM "todos" WHERE ("todos"."list_id" = :default_list_id) LIMIT 1;
INSERT INTO "todos" ("id", "owner_id", "list_id", "position", "title", "description", "due_at", "created_at", "updated_at") VALUES (gen_random_uuid(), :id, :default_list_id, 'Zx', 'pgbench todo', DEFAULT, DEFAULT, now(), now()) RETURNING "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version", "todos"."list_id", "todos"."position" \gset t_
INSERT INTO "todo_events" ("user_id", "kind", "todo_id", "snapshot", "occurred_at", "list_id", "from_list_id") VALUES (:id, 'CREATED', :t_id, '{"id": "01a23b5c-08f6-7343-9d4e-2316e461d58c", "title": "pgbench todo", "due_at": null, "list_id": "01a23b5c-0435-75f3-934e-b27df3f7f92a", "version": 1, "owner_id": "01a23b5c-040a-70a7-a487-f331c6f63772", "position": "Zx", "completed": false, "created_at": "2026-12-03T10:03:37.076944Z", "updated_at": "2026-12-03T10:03:37.076944Z", "description": null, "completed_at": null}', now(), :default_list_id, DEFAULT) RETURNING "todo_events"."id" AS eid \gset
COMMIT;
SELECT "todo_events"."id", "todo_events"."seq" FROM "todo_events" WHERE (("todo_events"."id" = ANY(ARRAY[:eid]::int8[])) AND ("todo_events"."seq" IS NOT NULL));
