-- Contact reveals audited (the front desk reaches the owner it calls back): issue 16.
-- Every time an owner's full phone numbers are shown: who asked (name, roles then, staff
-- record if any), when, whose numbers (NULL: many owners at once, an archive export or
-- an arrears roster), for which ticket's callback if any, and why ('callback': the
-- reporter of a ticket the actor may call back; 'contact': owners.contact; 'archive': the
-- archive with full contacts; 'roster': the arrears roster with full phones). Kept as
-- written: a later reveal is a new row, never an edit.
CREATE TABLE contact_reveals (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    owner_id INTEGER REFERENCES owners(id),
    ticket_id INTEGER REFERENCES tickets(id),
    purpose TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_roles TEXT NOT NULL,  -- JSON array: the roles that allowed the reveal
    -- The staff record the actor acts as, if any. Not a foreign key: an actor made by a
    -- host system may carry a number of its own.
    actor_staff_id INTEGER,
    at TEXT NOT NULL,
    CHECK (
        (purpose = 'callback' AND owner_id IS NOT NULL AND ticket_id IS NOT NULL)
        OR (purpose = 'contact' AND owner_id IS NOT NULL AND ticket_id IS NULL)
        OR (purpose IN ('archive', 'roster') AND owner_id IS NULL AND ticket_id IS NULL)
    )
);
CREATE INDEX contact_reveals_by_owner ON contact_reveals (estate_id, owner_id);

CREATE TRIGGER contact_reveals_no_update BEFORE UPDATE ON contact_reveals
BEGIN SELECT RAISE(ABORT, 'contact reveals are kept as written'); END;
CREATE TRIGGER contact_reveals_no_delete BEFORE DELETE ON contact_reveals
BEGIN SELECT RAISE(ABORT, 'contact reveals are kept as written'); END;

-- A team's leader (班组长): the SLA warnings of a ticket assigned to the team alone go to
-- them. Not a foreign key: staff already refer to teams, and a reference back would make
-- the two tables a cycle no copy order satisfies (propcare.storage.copy); the service
-- checks it names a staff member of the team's estate.
ALTER TABLE teams ADD COLUMN leader_staff_id INTEGER;
