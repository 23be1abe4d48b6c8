-- Granting roles as an audited action: issue 15.
-- Every change of a staff member's roles, their first roles included: who changed them
-- (name, roles then, staff record if any), when, which roles were added and which removed.
-- Kept as written: a later change is a new row, never an edit.
CREATE TABLE role_grants (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    staff_id INTEGER NOT NULL REFERENCES staff(id),
    added TEXT NOT NULL,  -- JSON array of role names, sorted
    removed TEXT NOT NULL,  -- JSON array of role names, sorted
    actor TEXT NOT NULL,
    actor_roles TEXT NOT NULL,  -- JSON array: the roles that allowed the change
    -- The staff record the granter acts as, if any. Not a foreign key: an actor made by a
    -- host system may carry a number of its own.
    actor_staff_id INTEGER,
    at TEXT NOT NULL,
    CHECK (added <> '[]' OR removed <> '[]')
);
CREATE INDEX role_grants_by_staff ON role_grants (estate_id, staff_id);

CREATE TRIGGER role_grants_no_update BEFORE UPDATE ON role_grants
BEGIN SELECT RAISE(ABORT, 'role grants are kept as written'); END;
CREATE TRIGGER role_grants_no_delete BEFORE DELETE ON role_grants
BEGIN SELECT RAISE(ABORT, 'role grants are kept as written'); END;
