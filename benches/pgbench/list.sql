-- DB ceiling of the list query: the statements one
--   todos(first: 20) { totalCount nodes { id title completed owner { email } } }
-- request runs with the read cache off, as captured with log_statement=all
-- (docs/benchmarks.md): the DataLoader's user lookup (the viewer, which also
-- serves every Todo.owner, and names the default list), the keyset page of
-- the default list (first + 1 rows), the count. No membership query: the
-- caller's own default list needs none.
-- Users have deterministic ids (benches/load/seed.rs seeds them), so pgbench can
-- pick one at random. Run with -M prepared, as diesel-async prepares too.
\set u random(1, 100)
SELECT "users"."id", "users"."email", "users"."password_hash", "users"."display_name", "users"."created_at", "users"."updated_at", "users"."event_seq", "users"."default_list_id", "users"."email_verified_at" FROM "users" WHERE ("users"."id" = ANY(ARRAY[('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid])) \gset
SELECT "todos"."id", "todos"."owner_id", "todos"."title", "todos"."description", "todos"."completed", "todos"."due_at", "todos"."completed_at", "todos"."created_at", "todos"."updated_at", "todos"."version", "todos"."list_id", "todos"."position" FROM "todos" WHERE ("todos"."list_id" = :default_list_id) ORDER BY "todos"."created_at" DESC, "todos"."id" DESC LIMIT 21;
SELECT COUNT(*) FROM "todos" WHERE ("todos"."list_id" = :default_list_id);
