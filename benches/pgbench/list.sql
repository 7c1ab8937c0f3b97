-- DB ceiling of the list query: the statements one
--   todos(first: 20) { totalCount nodes { id title completed owner { email } } }
-- request runs with the read cache off, as captured with log_statement=all
-- (docs/benchmarks.md), in one pipeline as the server sends them (one
-- write, one round trip): the viewer's row (the user DataLoader's query;
-- the row is then primed into the loader, so every own `owner` is
-- served), the keyset page of the default list, which the page finds
-- itself from the viewer's row (first + 1 rows), and the count.
-- Users have deterministic ids (benches/load/seed.rs seeds them), so pgbench can
-- pick one at random. Run with -M prepared, as diesel-async prepares too.
\set u random(1, 100)
\startpipeline
SELECT "users"."id", "users"."email", "users"."password_hash", "users"."display_name", "users"."created_at", "users"."updated_at", "users"."event_seq", "users"."default_list_id", "users"."email_verified_at" FROM "users" WHERE ("users"."id" = ANY(ARRAY[('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid]));
SELECT "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version", "todos"."list_id", "todos"."position", "todos"."deleted_at" FROM "todos" WHERE (("todos"."deleted_at" IS NULL) AND ("todos"."list_id" = ANY(SELECT "users"."default_list_id" FROM "users" WHERE ("users"."id" = ('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid)))) ORDER BY "todos"."created_at" DESC, "todos"."id" DESC LIMIT 21;
SELECT COUNT(*) FROM "todos" WHERE (("todos"."deleted_at" IS NULL) AND ("todos"."list_id" = ANY(SELECT "users"."default_list_id" FROM "users" WHERE ("users"."id" = ('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid))));
\endpipeline
