-- Lists, sharing with roles and manual order.
--
-- Every user has a default list (created with the account by a trigger, so
-- no code path can make a user without one); every todo belongs to one
-- list and has a position key in it; a list has members with roles, of
-- which exactly one is the OWNER (enforced below, at commit).

CREATE TABLE lists (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- The OWNER member (kept equal to it by list_members_check_owner).
    owner_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version    integer     NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lists_owner_idx ON lists (owner_id);

CREATE TABLE list_members (
    list_id   uuid        NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    user_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      text        NOT NULL CHECK (role IN ('OWNER', 'EDITOR', 'VIEWER')),
    -- Where the list sits in this member's own sidebar (a fractional index key).
    position  text        COLLATE "C" NOT NULL CHECK (char_length(position) BETWEEN 2 AND 128),
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, user_id)
);
-- A user's lists, in sidebar order.
CREATE INDEX list_members_user_idx ON list_members (user_id, position, list_id);
-- At most one OWNER per list, checked at once ...
CREATE UNIQUE INDEX list_members_one_owner_idx ON list_members (list_id) WHERE role = 'OWNER';

-- ... and at least one, the one lists.owner_id names, checked at commit (a
-- transfer demotes the old owner before promoting the new one).
CREATE FUNCTION list_members_check_owner() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    checked uuid;
    owner uuid;
BEGIN
    -- Separate branches: PL/pgSQL resolves a record's fields only when run.
    IF TG_TABLE_NAME = 'lists' THEN
        checked := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        checked := OLD.list_id;
    ELSE
        checked := NEW.list_id;
    END IF;
    SELECT owner_id INTO owner FROM lists WHERE id = checked;
    IF NOT FOUND THEN
        RETURN NULL; -- the list is gone
    END IF;
    PERFORM 1 FROM list_members WHERE list_id = checked AND user_id = owner AND role = 'OWNER';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'list % must have exactly one OWNER member, lists.owner_id', checked
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER list_members_owner_at_commit
    AFTER INSERT OR UPDATE OR DELETE ON list_members
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION list_members_check_owner();
CREATE CONSTRAINT TRIGGER lists_owner_at_commit
    AFTER INSERT OR UPDATE OF owner_id ON lists
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION list_members_check_owner();

CREATE TABLE list_invitations (
    id           uuid        PRIMARY KEY,
    list_id      uuid        NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    email        text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    role         text        NOT NULL CHECK (role IN ('EDITOR', 'VIEWER')),
    invited_by   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    cancelled_at timestamptz,
    CHECK (accepted_at IS NULL OR cancelled_at IS NULL)
);
-- One pending invitation per list and address.
CREATE UNIQUE INDEX list_invitations_pending_idx ON list_invitations (list_id, lower(email))
    WHERE accepted_at IS NULL AND cancelled_at IS NULL;
-- The invitee's inbox, and the per-inviter daily limit.
CREATE INDEX list_invitations_email_idx ON list_invitations (lower(email));
CREATE INDEX list_invitations_inviter_idx ON list_invitations (invited_by, created_at);

-- Every user's default list: named by the user row so that resolving "no
-- list given" costs no query (the viewer's row is loaded anyway).
ALTER TABLE users ADD COLUMN default_list_id uuid;
UPDATE users SET default_list_id = gen_random_uuid();
INSERT INTO lists (id, name, owner_id, created_at, updated_at)
    SELECT default_list_id, 'Inbox', id, created_at, created_at FROM users;
INSERT INTO list_members (list_id, user_id, role, position, joined_at)
    SELECT default_list_id, id, 'OWNER', 'a0', created_at FROM users;
ALTER TABLE users ALTER COLUMN default_list_id SET NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_default_list_fkey FOREIGN KEY (default_list_id)
    REFERENCES lists (id) DEFERRABLE INITIALLY DEFERRED;

-- New accounts get their default list from the database itself.
CREATE FUNCTION users_default_list_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.default_list_id IS NULL THEN
        NEW.default_list_id := gen_random_uuid();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER users_default_list_id BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_default_list_id();
CREATE FUNCTION users_default_list() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lists (id, name, owner_id, created_at, updated_at)
        VALUES (NEW.default_list_id, 'Inbox', NEW.id, NEW.created_at, NEW.created_at);
    INSERT INTO list_members (list_id, user_id, role, position, joined_at)
        VALUES (NEW.default_list_id, NEW.id, 'OWNER', 'a0', NEW.created_at);
    RETURN NULL;
END
$$;
CREATE TRIGGER users_default_list AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_default_list();

-- Todos move into their owner's default list, newest first (the old
-- default order), with the keys generateNKeysBetween(null, null, n) of the
-- fractional-indexing algorithm gives: a0 … az, b00 … bzz, c000 …
-- One set-based UPDATE rewrites each row once.
CREATE FUNCTION pg_temp.nth_position_key(n bigint) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    digits constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    width int := 1;
    span numeric := 62;
    rest numeric := n;
    key text := '';
BEGIN
    WHILE rest >= span LOOP
        rest := rest - span;
        width := width + 1;
        span := span * 62;
    END LOOP;
    FOR i IN 1..width LOOP
        key := substr(digits, (rest % 62)::int + 1, 1) || key;
        rest := floor(rest / 62);
    END LOOP;
    RETURN chr(ascii('a') + width - 1) || key;
END
$$;

-- The owner indexes go first: the UPDATE below need not maintain them.
DROP INDEX todos_owner_created_idx;
DROP INDEX todos_owner_updated_idx;
DROP INDEX todos_owner_due_idx;
DROP INDEX todos_owner_completed_idx;
ALTER TABLE todos ADD COLUMN list_id uuid;
ALTER TABLE todos ADD COLUMN position text COLLATE "C";
UPDATE todos t
    SET list_id = u.default_list_id, position = pg_temp.nth_position_key(r.n - 1)
    FROM (SELECT id, row_number() OVER (PARTITION BY owner_id ORDER BY created_at DESC, id DESC) AS n
          FROM todos) r,
         users u
    WHERE r.id = t.id AND u.id = t.owner_id;
ALTER TABLE todos ALTER COLUMN list_id SET NOT NULL;
ALTER TABLE todos ALTER COLUMN position SET NOT NULL;
ALTER TABLE todos ADD CONSTRAINT todos_position_check CHECK (char_length(position) BETWEEN 2 AND 128);
ALTER TABLE todos ADD CONSTRAINT todos_list_fkey FOREIGN KEY (list_id) REFERENCES lists (id) ON DELETE CASCADE;

-- Lists are read per list now: one index per keyset order, as before per owner.
CREATE INDEX todos_list_position_idx  ON todos (list_id, position, id);
CREATE INDEX todos_list_created_idx   ON todos (list_id, created_at, id);
CREATE INDEX todos_list_updated_idx   ON todos (list_id, updated_at, id);
CREATE INDEX todos_list_due_idx       ON todos (list_id, due_at, id);
CREATE INDEX todos_list_completed_idx ON todos (list_id, completed);
-- Deleting an account deletes the todos it created.
CREATE INDEX todos_owner_idx ON todos (owner_id);

-- Events name the list they concern, and may concern a list, not a todo.
ALTER TABLE todo_events ADD COLUMN list_id uuid;
-- For a todo moved between lists: the list it left.
ALTER TABLE todo_events ADD COLUMN from_list_id uuid;
UPDATE todo_events e SET list_id = u.default_list_id FROM users u WHERE u.id = e.user_id;
ALTER TABLE todo_events ALTER COLUMN list_id SET NOT NULL;
ALTER TABLE todo_events ALTER COLUMN todo_id DROP NOT NULL;
ALTER TABLE todo_events DROP CONSTRAINT todo_events_kind_check;
ALTER TABLE todo_events ADD CONSTRAINT todo_events_kind_check CHECK (
    (kind IN ('CREATED', 'UPDATED', 'DELETED') AND todo_id IS NOT NULL)
    OR (kind IN ('LIST_GRANTED', 'LIST_UPDATED', 'LIST_REVOKED') AND todo_id IS NULL));
