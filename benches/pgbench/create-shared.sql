-- DB ceiling of createTodo in the list shared by 50 members (users 51 to
-- 100, benches/load/seed.rs; the server's statements as for create.sql,
-- captured with log_statement=all, in the same three pipelines): the
-- audience lock returns the 50 members, and the transaction inserts one
-- event row per member in user-id order (the server sends them as arrays
-- of 50 to one INSERT … SELECT FROM unnest; here the arrays are built in
-- SQL from list_members), so its COMMIT locks and numbers 50 user rows,
-- in user-id order. 10 clients (the pool size), each a member of the list.
\set u random(51, 100)
\set r random(1, 999999999999)
SELECT "users"."id", "users"."email", "users"."password_hash", "users"."display_name", "users"."created_at", "users"."updated_at", "users"."event_seq", "users"."default_list_id", "users"."email_verified_at" FROM "users" WHERE ("users"."id" = ANY(ARRAY[('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid])) \gset
\startpipeline
BEGIN;
SELECT pg_advisory_xact_lock_shared(hashtextextended('list-audience:' || replace(('00000000-0000-4000-a000-000000051050'::uuid)::text, '-', ''), 0));
SELECT "list_members"."user_id", "list_members"."role" FROM "list_members" WHERE ("list_members"."list_id" = '00000000-0000-4000-a000-000000051050'::uuid) ORDER BY "list_members"."user_id" ASC;
SELECT min("todos"."position") FROM "todos" WHERE (("todos"."deleted_at" IS NULL) AND ("todos"."list_id" = '00000000-0000-4000-a000-000000051050'::uuid));
\endpipeline
\startpipeline
INSERT INTO "todos" ("id", "owner_id", "list_id", "position", "title", "description", "due_at", "created_at", "updated_at") VALUES (('00000000-0000-4000-c000-' || lpad(:r::text, 12, '0'))::uuid, :id, '00000000-0000-4000-a000-000000051050'::uuid, 'Zx', 'pgbench todo', NULL, NULL, now(), now()) ON CONFLICT ("id") DO NOTHING RETURNING "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version", "todos"."list_id", "todos"."position", "todos"."deleted_at";
INSERT INTO "todo_events" (user_id, kind, todo_id, snapshot, occurred_at, list_id, from_list_id) SELECT e.user_id, e.kind, e.todo_id, e.snapshot, e.occurred_at, e.list_id, e.from_list_id FROM unnest((SELECT array_agg(user_id ORDER BY user_id) FROM list_members WHERE list_id = '00000000-0000-4000-a000-000000051050'::uuid), array_fill('CREATED'::text, ARRAY[(SELECT count(*) FROM list_members WHERE list_id = '00000000-0000-4000-a000-000000051050'::uuid)::int]), array_fill(('00000000-0000-4000-c000-' || lpad(:r::text, 12, '0'))::uuid, ARRAY[(SELECT count(*) FROM list_members WHERE list_id = '00000000-0000-4000-a000-000000051050'::uuid)::int]), array_fill('{"id": "01a23b5c-08f6-7343-9d4e-2316e461d58c", "title": "pgbench todo", "due_at": null, "list_id": "01a23b5c-0435-75f3-934e-b27df3f7f92a", "version": 1, "owner_id": "01a23b5c-040a-70a7-a487-f331c6f63772", "position": "Zx", "completed": false, "created_at": "2026-12-03T10:03:37.076944Z", "updated_at": "2026-12-03T10:03:37.076944Z", "description": null, "completed_at": null}'::jsonb, ARRAY[(SELECT count(*) FROM list_members WHERE list_id = '00000000-0000-4000-a000-000000051050'::uuid)::int]), array_fill(now(), ARRAY[(SELECT count(*) FROM list_members WHERE list_id = '00000000-0000-4000-a000-000000051050'::uuid)::int]), array_fill('00000000-0000-4000-a000-000000051050'::uuid, ARRAY[(SELECT count(*) FROM list_members WHERE list_id = '00000000-0000-4000-a000-000000051050'::uuid)::int]), array_fill(NULL::uuid, ARRAY[(SELECT count(*) FROM list_members WHERE list_id = '00000000-0000-4000-a000-000000051050'::uuid)::int])) WITH ORDINALITY AS e(user_id, kind, todo_id, snapshot, occurred_at, list_id, from_list_id, n) ORDER BY e.n RETURNING id;
\endpipeline
\startpipeline
COMMIT;
SELECT "todo_events"."id", "todo_events"."seq" FROM "todo_events" WHERE (("todo_events"."id" = ANY(ARRAY(SELECT generate_series(currval('todo_events_id_seq') - 49, currval('todo_events_id_seq'))))) AND ("todo_events"."seq" IS NOT NULL));
\endpipeline
