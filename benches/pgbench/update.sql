-- DB ceiling of updateTodo(id, {title, expectedVersion}): the viewer
-- lookup, then the transaction that reads the todo's list, locks the list's
-- audience (FOR KEY SHARE), locks the todo in that list (the version
-- check), writes every column with version + 1 and writes one (unnumbered)
-- event row per member; COMMIT numbers it, and the number is read back for
-- publishing, as captured with log_statement=all (docs/benchmarks.md).
-- Todos have deterministic ids (benches/load/seed.rs).
\set u random(1, 100)
\set n random(1, 200)
\set t :u * 1000 + :n
SELECT "users"."id", "users"."email", "users"."password_hash", "users"."display_name", "users"."created_at", "users"."updated_at", "users"."event_seq", "users"."default_list_id", "users"."email_verified_at" FROM "users" WHERE ("users"."id" = ANY(ARRAY[('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid]));
BEGIN;
SELECT "todos"."list_id" AS l FROM "todos" WHERE ("todos"."id" = ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid) LIMIT 1 \gset
SELECT "list_members"."user_id", "list_members"."role" FROM ("lists" INNER JOIN "list_members" ON ("list_members"."list_id" = "lists"."id")) WHERE ("lists"."id" = :l) ORDER BY "list_members"."user_id" ASC FOR KEY SHARE;
SELECT "todos"."version" AS v, "todos"."completed" AS c, "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version", "todos"."list_id", "todos"."position" FROM "todos" WHERE (("todos"."id" = ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid) AND ("todos"."list_id" = :l)) LIMIT 1 FOR UPDATE \gset
UPDATE "todos" SET "title" = 'pgbench title ' || :v, "description" = NULL, "completed" = :c::boolean, "due_at" = NULL, "completed_at" = CASE WHEN :c::boolean THEN now() END, "updated_at" = now(), "version" = :v + 1 WHERE ("todos"."id" = ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid) RETURNING "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version", "todos"."list_id", "todos"."position";
INSERT INTO "todo_events" ("user_id", "kind", "todo_id", "snapshot", "occurred_at", "list_id", "from_list_id") VALUES (('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid, 'UPDATED', ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid, '{"id": "01a23b5c-08f6-7343-9d4e-2316e461d58c", "title": "pgbench todo", "due_at": null, "list_id": "01a23b5c-0435-75f3-934e-b27df3f7f92a", "version": 1, "owner_id": "01a23b5c-040a-70a7-a487-f331c6f63772", "position": "Zx", "completed": false, "created_at": "2026-12-03T10:03:37.076944Z", "updated_at": "2026-12-03T10:03:37.076944Z", "description": null, "completed_at": null}', now(), :l, DEFAULT) RETURNING "todo_events"."id" AS eid \gset
COMMIT;
SELECT "todo_events"."id", "todo_events"."seq" FROM "todo_events" WHERE (("todo_events"."id" = ANY(ARRAY[:eid]::int8[])) AND ("todo_events"."seq" IS NOT NULL));
