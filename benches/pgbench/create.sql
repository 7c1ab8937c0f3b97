-- DB ceiling of createTodo (default list), as the server sends it (captured
-- with log_statement=all, docs/benchmarks.md): the viewer lookup (which
-- names the default list), then three pipelines, one round trip each:
-- BEGIN, the list's audience lock (shared advisory lock), its members
-- (read once the lock is granted) and the first position; the todo's
-- insert and its event rows (one per member, with the todo's snapshot,
-- which the server builds before the insert answers); COMMIT (the
-- deferred trigger `todo_events_number` numbers the event, locking the
-- user row only inside the commit) and the read of the number for
-- publishing. The server computes the lock's key and the todo's id; here
-- SQL does (the key from the list id, the id from a random number). The
-- event ids come back from the insert; here the read-back finds them by
-- todo id (pgbench has no \gset inside a pipeline). The position is a
-- constant: the server computes a key before the first, which costs the
-- database nothing more.
\set u random(1, 100)
\set r random(1, 999999999999)
SELECT "users"."id", "users"."email", "users"."password_hash", "users"."display_name", "users"."created_at", "users"."updated_at", "users"."event_seq", "users"."default_list_id", "users"."email_verified_at" FROM "users" WHERE ("users"."id" = ANY(ARRAY[('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid])) \gset
\startpipeline
BEGIN;
SELECT pg_advisory_xact_lock_shared(hashtextextended('list-audience:' || replace((:default_list_id)::text, '-', ''), 0));
SELECT "list_members"."user_id", "list_members"."role" FROM "list_members" WHERE ("list_members"."list_id" = :default_list_id) ORDER BY "list_members"."user_id" ASC;
SELECT min("todos"."position") FROM "todos" WHERE (("todos"."deleted_at" IS NULL) AND ("todos"."list_id" = :default_list_id));
\endpipeline
\startpipeline
INSERT INTO "todos" ("id", "owner_id", "list_id", "position", "title", "description", "due_at", "created_at", "updated_at") VALUES (('00000000-0000-4000-c000-' || lpad(:r::text, 12, '0'))::uuid, :id, :default_list_id, 'Zx', 'pgbench todo', NULL, NULL, now(), now()) ON CONFLICT ("id") DO NOTHING RETURNING "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version", "todos"."list_id", "todos"."position", "todos"."deleted_at";
INSERT INTO "todo_events" (user_id, kind, todo_id, snapshot, occurred_at, list_id, from_list_id) SELECT e.user_id, e.kind, e.todo_id, e.snapshot, e.occurred_at, e.list_id, e.from_list_id FROM unnest(ARRAY[:id]::uuid[], ARRAY['CREATED']::text[], ARRAY[('00000000-0000-4000-c000-' || lpad(:r::text, 12, '0'))::uuid]::uuid[], ARRAY['{"id": "01a23b5c-08f6-7343-9d4e-2316e461d58c", "title": "pgbench todo", "due_at": null, "list_id": "01a23b5c-0435-75f3-934e-b27df3f7f92a", "version": 1, "owner_id": "01a23b5c-040a-70a7-a487-f331c6f63772", "position": "Zx", "completed": false, "created_at": "2026-12-03T10:03:37.076944Z", "updated_at": "2026-12-03T10:03:37.076944Z", "description": null, "completed_at": null}']::jsonb[], ARRAY[now()]::timestamptz[], ARRAY[:default_list_id]::uuid[], ARRAY[NULL]::uuid[]) WITH ORDINALITY AS e(user_id, kind, todo_id, snapshot, occurred_at, list_id, from_list_id, n) ORDER BY e.n RETURNING id;
\endpipeline
\startpipeline
COMMIT;
SELECT "todo_events"."id", "todo_events"."seq" FROM "todo_events" WHERE (("todo_events"."id" = ANY(ARRAY[(SELECT currval('todo_events_id_seq'))])) AND ("todo_events"."seq" IS NOT NULL));
\endpipeline
