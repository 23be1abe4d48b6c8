-- Tickets append-only (events never changed; the row only by appending): issue 15.
-- PostgreSQL translation of migrations/sqlite/0019_ticket_append_only.sql, whose comment
-- gives the rules and why; the triggers have the same names and messages.
--
-- ticket_events, ticket_charges and sla_alerts: no UPDATE, no DELETE, no TRUNCATE.
-- tickets: no DELETE, no TRUNCATE; an UPDATE
--   1. keeps the intake (estate, opened_at, channel, first contact, plan occurrence);
--   2. moves last_seq only one step, to the ticket's latest event (appended first);
--   3. without a new event, changes nothing but the deadlines and the policy name;
--   4. on a closed or cancelled ticket, keeps the known deadlines and the policy name
--      (fills in a missing or provisional one, may clear one).
-- propcare_refuse_change() is defined in 0006_ledger.sql (SQLSTATE 23000, mapped to
-- Conflict). Rules 1, 3 and 4 are its triggers' WHEN conditions; rule 2 reads
-- ticket_events, and a WHEN condition cannot hold a subquery, so it has a function of its
-- own that raises the same way. TRUNCATE skips row triggers: a statement trigger refuses
-- it, with the DELETE message.

CREATE TRIGGER ticket_events_no_update BEFORE UPDATE ON ticket_events FOR EACH ROW
EXECUTE FUNCTION propcare_refuse_change('ticket events are append-only: record a new event');
CREATE TRIGGER ticket_events_no_delete BEFORE DELETE ON ticket_events FOR EACH ROW
EXECUTE FUNCTION propcare_refuse_change('ticket events are append-only: record a new event');
CREATE TRIGGER ticket_events_no_truncate BEFORE TRUNCATE ON ticket_events
EXECUTE FUNCTION propcare_refuse_change('ticket events are append-only: record a new event');
CREATE TRIGGER ticket_charges_no_update BEFORE UPDATE ON ticket_charges FOR EACH ROW
EXECUTE FUNCTION propcare_refuse_change(
    'ticket charges are append-only: the fee ledger bills them');
CREATE TRIGGER ticket_charges_no_delete BEFORE DELETE ON ticket_charges FOR EACH ROW
EXECUTE FUNCTION propcare_refuse_change(
    'ticket charges are append-only: the fee ledger bills them');
CREATE TRIGGER ticket_charges_no_truncate BEFORE TRUNCATE ON ticket_charges
EXECUTE FUNCTION propcare_refuse_change(
    'ticket charges are append-only: the fee ledger bills them');
CREATE TRIGGER sla_alerts_no_update BEFORE UPDATE ON sla_alerts FOR EACH ROW
EXECUTE FUNCTION propcare_refuse_change(
    'sla alerts are a record of what was sent, never changed');
CREATE TRIGGER sla_alerts_no_delete BEFORE DELETE ON sla_alerts FOR EACH ROW
EXECUTE FUNCTION propcare_refuse_change(
    'sla alerts are a record of what was sent, never changed');
CREATE TRIGGER sla_alerts_no_truncate BEFORE TRUNCATE ON sla_alerts
EXECUTE FUNCTION propcare_refuse_change(
    'sla alerts are a record of what was sent, never changed');

CREATE TRIGGER tickets_no_delete BEFORE DELETE ON tickets FOR EACH ROW
EXECUTE FUNCTION propcare_refuse_change('tickets are never deleted: cancel one instead');
CREATE TRIGGER tickets_no_truncate BEFORE TRUNCATE ON tickets
EXECUTE FUNCTION propcare_refuse_change('tickets are never deleted: cancel one instead');

-- 1.
CREATE TRIGGER tickets_intake_fixed BEFORE UPDATE ON tickets FOR EACH ROW
WHEN (NEW.id IS DISTINCT FROM OLD.id
    OR NEW.estate_id IS DISTINCT FROM OLD.estate_id
    OR NEW.opened_at IS DISTINCT FROM OLD.opened_at
    OR NEW.channel IS DISTINCT FROM OLD.channel
    OR NEW.first_contact_staff_id IS DISTINCT FROM OLD.first_contact_staff_id
    OR NEW.plan_id IS DISTINCT FROM OLD.plan_id
    OR NEW.occurrence IS DISTINCT FROM OLD.occurrence)
EXECUTE FUNCTION propcare_refuse_change('the intake of a ticket never changes');

-- 2.
CREATE FUNCTION propcare_ticket_moves_to_its_latest_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.last_seq IS DISTINCT FROM OLD.last_seq + 1
        OR NEW.last_seq IS DISTINCT FROM
            (SELECT max(seq) FROM ticket_events WHERE ticket_id = OLD.id) THEN
        RAISE EXCEPTION USING
            MESSAGE = TG_ARGV[0],
            ERRCODE = 'integrity_constraint_violation',
            DETAIL = format('%s on %s refused', TG_OP, TG_TABLE_NAME);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tickets_last_seq_is_latest_event BEFORE UPDATE ON tickets FOR EACH ROW
WHEN (NEW.last_seq IS DISTINCT FROM OLD.last_seq)
EXECUTE FUNCTION propcare_ticket_moves_to_its_latest_event(
    'a ticket moves one event at a time: append the event first');

-- 3.
CREATE TRIGGER tickets_state_needs_an_event BEFORE UPDATE ON tickets FOR EACH ROW
WHEN (NEW.last_seq IS NOT DISTINCT FROM OLD.last_seq
    AND (NEW.status IS DISTINCT FROM OLD.status
         OR NEW.category IS DISTINCT FROM OLD.category
         OR NEW.priority IS DISTINCT FROM OLD.priority
         OR NEW.unit_id IS DISTINCT FROM OLD.unit_id
         OR NEW.assignee_staff_id IS DISTINCT FROM OLD.assignee_staff_id
         OR NEW.assignee_team_id IS DISTINCT FROM OLD.assignee_team_id
         OR NEW.responded_at IS DISTINCT FROM OLD.responded_at
         OR NEW.arrived_at IS DISTINCT FROM OLD.arrived_at
         OR NEW.resolved_at IS DISTINCT FROM OLD.resolved_at
         OR NEW.closed_at IS DISTINCT FROM OLD.closed_at
         OR NEW.cancelled_at IS DISTINCT FROM OLD.cancelled_at
         OR NEW.callback_at IS DISTINCT FROM OLD.callback_at
         OR NEW.satisfaction IS DISTINCT FROM OLD.satisfaction
         OR NEW.rework_count IS DISTINCT FROM OLD.rework_count
         OR NEW.needs_callback IS DISTINCT FROM OLD.needs_callback
         OR NEW.state IS DISTINCT FROM OLD.state))
EXECUTE FUNCTION propcare_refuse_change('a ticket changes only with a new event');

-- 4.
CREATE TRIGGER tickets_closed_deadlines_kept BEFORE UPDATE ON tickets FOR EACH ROW
WHEN (OLD.status IN ('closed', 'cancelled')
    AND (NEW.policy IS DISTINCT FROM OLD.policy
         OR (NEW.response_due IS DISTINCT FROM OLD.response_due
             AND NEW.response_due IS NOT NULL AND OLD.response_due IS NOT NULL
             AND COALESCE(OLD.deadline_gaps, '') NOT LIKE '%"response":%')
         OR (NEW.arrival_due IS DISTINCT FROM OLD.arrival_due
             AND NEW.arrival_due IS NOT NULL AND OLD.arrival_due IS NOT NULL
             AND COALESCE(OLD.deadline_gaps, '') NOT LIKE '%"arrival":%')
         OR (NEW.resolution_due IS DISTINCT FROM OLD.resolution_due
             AND NEW.resolution_due IS NOT NULL AND OLD.resolution_due IS NOT NULL
             AND COALESCE(OLD.deadline_gaps, '') NOT LIKE '%"resolution":%')
         OR (NEW.callback_due IS DISTINCT FROM OLD.callback_due
             AND NEW.callback_due IS NOT NULL AND OLD.callback_due IS NOT NULL
             AND COALESCE(OLD.deadline_gaps, '') NOT LIKE '%"callback":%')))
EXECUTE FUNCTION propcare_refuse_change('a closed ticket keeps its known deadlines');
