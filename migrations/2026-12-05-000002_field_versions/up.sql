-- Field-level merge (updateTodo's baseVersion): per todo, the version at
-- which each field a client may merge last changed. A merge based on
-- version B applies when every field of its input has `<field>_version <= B`.
--
-- The mergeable fields are those updateTodo takes (title, description,
-- completed, dueAt). A todo's list and position change only through
-- moveTodo (and rebalancing), which merges nothing: they bump `version`
-- but need no column here.
--
-- New todos start at version 1 with every field "changed" at 1: the
-- defaults cover inserts, so the insert path needs no change.
ALTER TABLE todos
    ADD COLUMN title_version integer NOT NULL DEFAULT 1,
    ADD COLUMN description_version integer NOT NULL DEFAULT 1,
    ADD COLUMN completed_version integer NOT NULL DEFAULT 1,
    ADD COLUMN due_at_version integer NOT NULL DEFAULT 1;

-- Existing todos: which field changed at which version was never kept, so
-- every field counts as changed at the current version. That is the safe
-- side: a merge based on an older version conflicts (as expectedVersion
-- would), never overwrites a change it did not see. Todos never changed
-- (version 1) keep the defaults, so only changed rows are rewritten.
UPDATE todos
SET title_version = version,
    description_version = version,
    completed_version = version,
    due_at_version = version
WHERE version > 1;

-- A field cannot have changed after the todo's own version.
ALTER TABLE todos ADD CONSTRAINT todos_field_versions_check CHECK (
    title_version BETWEEN 1 AND version
    AND description_version BETWEEN 1 AND version
    AND completed_version BETWEEN 1 AND version
    AND due_at_version BETWEEN 1 AND version
);
