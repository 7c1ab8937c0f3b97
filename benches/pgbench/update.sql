-- DB ceiling of updateTodo(id, {title, expectedVersion}), as the server
-- sends it (captured with log_statement=all, docs/benchmarks.md): the
-- viewer lookup, then three pipelines, one round trip each: BEGIN, the
-- audience lock of the todo's list (the statement finds the list from
-- the todo), the members of that list (read once the lock is granted)
-- and the todo's row lock (FOR UPDATE; the server checks all three found
-- the same list); the UPDATE writing every column with version + 1 and
-- one (unnumbered) event row per member; COMMIT, which numbers it, and
-- the read of the number for publishing. The server checks the version
-- between the first and second pipelines and writes title + 1 version;
-- here the UPDATE computes them. Todos have deterministic ids
-- (benches/load/seed.rs).
\set u random(1, 100)
\set n random(1, 200)
\set t :u * 1000 + :n
SELECT "users"."id", "users"."email", "users"."password_hash", "users"."display_name", "users"."created_at", "users"."updated_at", "users"."event_seq", "users"."default_list_id", "users"."email_verified_at" FROM "users" WHERE ("users"."id" = ANY(ARRAY[('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid]));
\startpipeline
BEGIN;
SELECT t.list_id FROM todos t CROSS JOIN LATERAL pg_advisory_xact_lock_shared(hashtextextended('list-audience:' || replace(t.list_id::text, '-', ''), 0)) WHERE t.deleted_at IS NULL AND t.id = ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid;
SELECT "list_members"."user_id", "list_members"."role", "list_members"."list_id" FROM "list_members" WHERE ("list_members"."list_id" = (SELECT "todos"."list_id" FROM "todos" WHERE (("todos"."id" = ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid) AND ("todos"."deleted_at" IS NULL)) LIMIT 1)) ORDER BY "list_members"."user_id" ASC;
SELECT "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version", "todos"."list_id", "todos"."position", "todos"."deleted_at" FROM "todos" WHERE (("todos"."deleted_at" IS NULL) AND ("todos"."id" = ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid)) FOR UPDATE;
\endpipeline
\startpipeline
UPDATE "todos" SET "title" = 'pgbench title ' || "version", "description" = NULL, "completed" = "completed", "due_at" = NULL, "completed_at" = "completed_at", "updated_at" = now(), "version" = "version" + 1, "title_version" = coalesce("version" + 1, "title_version"), "description_version" = coalesce(NULL, "description_version"), "completed_version" = coalesce(NULL, "completed_version"), "due_at_version" = coalesce(NULL, "due_at_version") WHERE "todos"."deleted_at" IS NULL AND "todos"."id" = ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid RETURNING "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version", "todos"."list_id", "todos"."position", "todos"."deleted_at";
INSERT INTO "todo_events" (user_id, kind, todo_id, snapshot, occurred_at, list_id, from_list_id) SELECT e.user_id, e.kind, e.todo_id, e.snapshot, e.occurred_at, e.list_id, e.from_list_id FROM unnest(ARRAY[('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid]::uuid[], ARRAY['UPDATED']::text[], ARRAY[('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid]::uuid[], ARRAY['{"id": "01a23b5c-08f6-7343-9d4e-2316e461d58c", "title": "pgbench todo", "due_at": null, "list_id": "01a23b5c-0435-75f3-934e-b27df3f7f92a", "version": 1, "owner_id": "01a23b5c-040a-70a7-a487-f331c6f63772", "position": "Zx", "completed": false, "created_at": "2026-12-03T10:03:37.076944Z", "updated_at": "2026-12-03T10:03:37.076944Z", "description": null, "completed_at": null}']::jsonb[], ARRAY[now()]::timestamptz[], ARRAY[(SELECT list_id FROM todos WHERE id = ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid)]::uuid[], ARRAY[NULL]::uuid[]) WITH ORDINALITY AS e(user_id, kind, todo_id, snapshot, occurred_at, list_id, from_list_id, n) ORDER BY e.n RETURNING id;
\endpipeline
\startpipeline
COMMIT;
SELECT "todo_events"."id", "todo_events"."seq" FROM "todo_events" WHERE (("todo_events"."id" = ANY(ARRAY[(SELECT currval('todo_events_id_seq'))])) AND ("todo_events"."seq" IS NOT NULL));
\endpipeline
