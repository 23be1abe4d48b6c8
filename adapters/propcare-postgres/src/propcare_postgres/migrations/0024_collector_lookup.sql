-- PostgreSQL translation of migrations/sqlite/0024_collector_lookup.sql.
-- The collector of a unit on a day, for every line of the arrears roster (issue 17): read
-- from the unit's own assignments, then its building's, through indexes of the
-- assignments still running on the day (an open end counts as 9999-12-31): the lookup
-- never reads an assignment that ended before the day, so a roster costs the same however
-- many hand-overs the estate has had. A collector's roster finds the collector's units
-- the same way. The rule: propcare.ledger.collection.collector_on.
CREATE INDEX collector_assignments_by_unit
    ON collector_assignments (unit_id, (COALESCE(end_date, '9999-12-31')))
    WHERE unit_id IS NOT NULL;
CREATE INDEX collector_assignments_by_building
    ON collector_assignments (building_id, (COALESCE(end_date, '9999-12-31')))
    WHERE building_id IS NOT NULL;
CREATE INDEX collector_assignments_by_staff
    ON collector_assignments (staff_id, (COALESCE(end_date, '9999-12-31')));
