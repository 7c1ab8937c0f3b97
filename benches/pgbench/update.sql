-- DB ceiling of updateTodo(id, {title, expectedVersion}): the viewer
-- lookup, then the transaction that locks the todo (the version check),
-- writes every column with version + 1 and writes the (unnumbered) event
-- row; COMMIT numbers it, and the number is read back for publishing, as
-- captured with log_statement=all
-- (docs/benchmarks.md). Todos have deterministic ids (benches/load/seed.rs).
\set u random(1, 100)
\set n random(1, 200)
\set t :u * 1000 + :n
SELECT "users"."id", "users"."email", "users"."password_hash", "users"."display_name", "users"."created_at", "users"."updated_at", "users"."event_seq" FROM "users" WHERE ("users"."id" = ANY(ARRAY[('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid]));
BEGIN;
SELECT "todos"."version" AS v, "todos"."completed" AS c, "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version" FROM "todos" WHERE (("todos"."id" = ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid) AND ("todos"."owner_id" = ('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid)) LIMIT 1 FOR UPDATE \gset
UPDATE "todos" SET "title" = 'pgbench title ' || :v, "description" = NULL, "completed" = :c::boolean, "due_at" = NULL, "completed_at" = CASE WHEN :c::boolean THEN now() END, "updated_at" = now(), "version" = :v + 1 WHERE ("todos"."id" = ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid) RETURNING "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version";
INSERT INTO "todo_events" ("user_id", "kind", "todo_id", "snapshot", "occurred_at") VALUES (('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid, 'UPDATED', ('00000000-0000-4000-9000-' || lpad(:t::text, 12, '0'))::uuid, '{"id": "01a20f4f-9ad3-7274-a02d-898c6121eb02", "title": "pgbench title", "due_at": null, "version": 2, "owner_id": "01a20f4f-9a69-7029-845f-2003f1dc63fa", "completed": false, "created_at": "2026-11-24T20:46:44.947273Z", "updated_at": "2026-11-24T20:46:46.120494Z", "description": null, "completed_at": null}', now()) RETURNING "todo_events"."id" AS eid \gset
COMMIT;
SELECT "todo_events"."id", "todo_events"."seq" FROM "todo_events" WHERE (("todo_events"."id" = ANY(ARRAY[:eid]::int8[])) AND ("todo_events"."seq" IS NOT NULL));
