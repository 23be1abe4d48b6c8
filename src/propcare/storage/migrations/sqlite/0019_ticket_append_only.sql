-- Tickets append-only (events never changed; the row only by appending): issue 15.
--
-- A ticket's history is what happened, and its timeliness feeds appraisal and pay: deleting
-- one event could turn a response 5 h late into "timely". As for the ledger, commission and
-- appraisal tables (0006, 0013, 0014), the database refuses what the code never does; a
-- refusal is an IntegrityError, which the storage raises as propcare.errors.Conflict.
--
-- ticket_events, ticket_charges (billed by the fee ledger) and sla_alerts (each alert is
-- sent once: a deleted row would send it again) are never updated or deleted.
--
-- tickets rows are never deleted (a ticket is cancelled, not removed), and an UPDATE must
-- keep the row consistent with its history. The code updates a row in two ways only:
--   append (TicketRepo.append): the event is inserted FIRST, then the row gets the state
--     it led to, with last_seq one higher, equal to that event's seq;
--   refresh (recompute): new deadlines (response_due .. callback_due, deadline_gaps,
--     provisional, held) and, for an open ticket, the policy name; nothing else, and no
--     event (a year's holiday data arrived, or the SLA targets changed).
-- So:
--   1. the intake never changes: estate, when it was opened, the channel it came in by, the
--      first-contact staff member (首问负责人) and the plan occurrence that generated it.
--      (Category, priority and unit may change, but only with an event: rule 3.)
--   2. last_seq moves only one step at a time, and only to the ticket's latest event.
--   3. without a new event (last_seq unchanged) nothing of the state changes: status,
--      category, priority, unit, assignees, every timestamp, satisfaction, rework count,
--      the callback flag and the state JSON. Only deadlines and the policy name may.
--   4. a closed or cancelled ticket keeps the deadlines it has (and its policy name): those
--      are what was reported. Only a deadline that is missing, or provisional / held open
--      for a year's holiday data (named in deadline_gaps), may be filled in (as recompute
--      does), and a known one may be cleared (a row as an older release left it; recompute
--      fills it in again and tickets.verify reports it until then). A note added to a
--      closed ticket keeps its deadlines the same way.
-- A trigger cannot replay events: whether the state, the timestamps and the deadlines are
-- what the events give is checked by app.tickets.verify (`propcare tickets verify`).
-- Only UPDATE and DELETE are checked: opening and importing tickets (INSERT) cost nothing.

CREATE TRIGGER ticket_events_no_update BEFORE UPDATE ON ticket_events
BEGIN SELECT RAISE(ABORT, 'ticket events are append-only: record a new event'); END;
CREATE TRIGGER ticket_events_no_delete BEFORE DELETE ON ticket_events
BEGIN SELECT RAISE(ABORT, 'ticket events are append-only: record a new event'); END;
CREATE TRIGGER ticket_charges_no_update BEFORE UPDATE ON ticket_charges
BEGIN SELECT RAISE(ABORT, 'ticket charges are append-only: the fee ledger bills them'); END;
CREATE TRIGGER ticket_charges_no_delete BEFORE DELETE ON ticket_charges
BEGIN SELECT RAISE(ABORT, 'ticket charges are append-only: the fee ledger bills them'); END;
CREATE TRIGGER sla_alerts_no_update BEFORE UPDATE ON sla_alerts
BEGIN SELECT RAISE(ABORT, 'sla alerts are a record of what was sent, never changed'); END;
CREATE TRIGGER sla_alerts_no_delete BEFORE DELETE ON sla_alerts
BEGIN SELECT RAISE(ABORT, 'sla alerts are a record of what was sent, never changed'); END;

CREATE TRIGGER tickets_no_delete BEFORE DELETE ON tickets
BEGIN SELECT RAISE(ABORT, 'tickets are never deleted: cancel one instead'); END;

-- 1.
CREATE TRIGGER tickets_intake_fixed BEFORE UPDATE ON tickets
WHEN NEW.id IS NOT OLD.id
    OR NEW.estate_id IS NOT OLD.estate_id
    OR NEW.opened_at IS NOT OLD.opened_at
    OR NEW.channel IS NOT OLD.channel
    OR NEW.first_contact_staff_id IS NOT OLD.first_contact_staff_id
    OR NEW.plan_id IS NOT OLD.plan_id
    OR NEW.occurrence IS NOT OLD.occurrence
BEGIN SELECT RAISE(ABORT, 'the intake of a ticket never changes'); END;

-- 2. (The subquery runs only when last_seq moves: on appends, not on recompute.)
CREATE TRIGGER tickets_last_seq_is_latest_event BEFORE UPDATE ON tickets
WHEN NEW.last_seq IS NOT OLD.last_seq
    AND (NEW.last_seq IS NOT OLD.last_seq + 1
         OR NEW.last_seq IS NOT (SELECT MAX(seq) FROM ticket_events WHERE ticket_id = OLD.id))
BEGIN SELECT RAISE(ABORT, 'a ticket moves one event at a time: append the event first'); END;

-- 3.
CREATE TRIGGER tickets_state_needs_an_event BEFORE UPDATE ON tickets
WHEN NEW.last_seq IS OLD.last_seq
    AND (NEW.status IS NOT OLD.status
         OR NEW.category IS NOT OLD.category
         OR NEW.priority IS NOT OLD.priority
         OR NEW.unit_id IS NOT OLD.unit_id
         OR NEW.assignee_staff_id IS NOT OLD.assignee_staff_id
         OR NEW.assignee_team_id IS NOT OLD.assignee_team_id
         OR NEW.responded_at IS NOT OLD.responded_at
         OR NEW.arrived_at IS NOT OLD.arrived_at
         OR NEW.resolved_at IS NOT OLD.resolved_at
         OR NEW.closed_at IS NOT OLD.closed_at
         OR NEW.cancelled_at IS NOT OLD.cancelled_at
         OR NEW.callback_at IS NOT OLD.callback_at
         OR NEW.satisfaction IS NOT OLD.satisfaction
         OR NEW.rework_count IS NOT OLD.rework_count
         OR NEW.needs_callback IS NOT OLD.needs_callback
         OR NEW.state IS NOT OLD.state)
BEGIN SELECT RAISE(ABORT, 'a ticket changes only with a new event'); END;

-- 4. deadline_gaps is {"<target>":[years],...,"held":[...]}: a key "<target>": names a
-- deadline that waits for holiday data.
CREATE TRIGGER tickets_closed_deadlines_kept BEFORE UPDATE ON tickets
WHEN OLD.status IN ('closed', 'cancelled')
    AND (NEW.policy IS NOT OLD.policy
         OR (NEW.response_due IS NOT OLD.response_due AND NEW.response_due IS NOT NULL
             AND OLD.response_due IS NOT NULL
             AND COALESCE(OLD.deadline_gaps, '') NOT LIKE '%"response":%')
         OR (NEW.arrival_due IS NOT OLD.arrival_due AND NEW.arrival_due IS NOT NULL
             AND OLD.arrival_due IS NOT NULL
             AND COALESCE(OLD.deadline_gaps, '') NOT LIKE '%"arrival":%')
         OR (NEW.resolution_due IS NOT OLD.resolution_due AND NEW.resolution_due IS NOT NULL
             AND OLD.resolution_due IS NOT NULL
             AND COALESCE(OLD.deadline_gaps, '') NOT LIKE '%"resolution":%')
         OR (NEW.callback_due IS NOT OLD.callback_due AND NEW.callback_due IS NOT NULL
             AND OLD.callback_due IS NOT NULL
             AND COALESCE(OLD.deadline_gaps, '') NOT LIKE '%"callback":%'))
BEGIN SELECT RAISE(ABORT, 'a closed ticket keeps its known deadlines'); END;
