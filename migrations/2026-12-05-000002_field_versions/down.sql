ALTER TABLE todos
    DROP CONSTRAINT todos_field_versions_check,
    DROP COLUMN title_version,
    DROP COLUMN description_version,
    DROP COLUMN completed_version,
    DROP COLUMN due_at_version;
