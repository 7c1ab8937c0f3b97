-- DB ceiling of createTodo: the viewer lookup, then the transaction that
-- inserts the todo and its (unnumbered) event row with the todo's snapshot;
-- COMMIT numbers the event (the deferred trigger `todo_events_number`
-- locks the user row only inside the commit), and the number is read back
-- for publishing. As captured with log_statement=all (docs/benchmarks.md).
\set u random(1, 100)
SELECT "users"."id", "users"."email", "users"."password_hash", "users"."display_name", "users"."created_at", "users"."updated_at", "users"."event_seq" FROM "users" WHERE ("users"."id" = ANY(ARRAY[('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid]));
BEGIN;
INSERT INTO "todos" ("id", "owner_id", "title", "description", "due_at", "created_at", "updated_at") VALUES (gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid, 'pgbench todo', DEFAULT, DEFAULT, now(), now()) RETURNING "todos"."id" AS tid, "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version" \gset
INSERT INTO "todo_events" ("user_id", "kind", "todo_id", "snapshot", "occurred_at") VALUES (('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid, 'CREATED', :tid, '{"id": "01a20f4f-9f3f-75a4-850d-42b0c7a93358", "title": "pgbench todo", "due_at": null, "version": 1, "owner_id": "01a20f4f-9a69-7029-845f-2003f1dc63fa", "completed": false, "created_at": "2026-11-24T20:46:46.078930Z", "updated_at": "2026-11-24T20:46:46.078930Z", "description": null, "completed_at": null}', now()) RETURNING "todo_events"."id" AS eid \gset
COMMIT;
SELECT "todo_events"."id", "todo_events"."seq" FROM "todo_events" WHERE (("todo_events"."id" = ANY(ARRAY[:eid]::int8[])) AND ("todo_events"."seq" IS NOT NULL));
