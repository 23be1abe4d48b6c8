-- The estate registry. Every row belongs to an estate; every query filters by it.
CREATE TABLE estates (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL
);

CREATE TABLE buildings (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    name TEXT NOT NULL,
    UNIQUE (estate_id, name)
);

-- floor_area is exact decimal text (square metres); money elsewhere is integer fen.
CREATE TABLE units (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    building_id INTEGER NOT NULL REFERENCES buildings(id),
    number TEXT NOT NULL,
    floor_area TEXT NOT NULL,
    use TEXT NOT NULL,
    handover_date TEXT,
    UNIQUE (building_id, number)
);
CREATE INDEX units_by_estate ON units (estate_id, building_id);

CREATE TABLE owners (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    name TEXT NOT NULL,
    phones TEXT NOT NULL DEFAULT '[]',
    id_card TEXT
);
CREATE INDEX owners_by_estate ON owners (estate_id);

-- end_date is exclusive; NULL while the owner still holds the unit.
CREATE TABLE ownerships (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    start_date TEXT NOT NULL,
    end_date TEXT
);
CREATE INDEX ownerships_by_unit ON ownerships (unit_id, start_date);
CREATE UNIQUE INDEX ownerships_one_open ON ownerships (unit_id) WHERE end_date IS NULL;

CREATE TABLE teams (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    UNIQUE (estate_id, name)
);

CREATE TABLE staff (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    team_id INTEGER REFERENCES teams(id),
    active_from TEXT NOT NULL,
    active_to TEXT,
    phone TEXT
);
CREATE INDEX staff_by_estate ON staff (estate_id, team_id);

CREATE TABLE vendors (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    name TEXT NOT NULL,
    service TEXT NOT NULL,
    contact_name TEXT,
    phone TEXT
);
CREATE INDEX vendors_by_estate ON vendors (estate_id);
