-- PostgreSQL translation of migrations/sqlite/0004_ticket_stats.sql.
-- Ticket metrics (月统计): outside work orders of a period's tickets are counted through
-- this small index instead of reading every event of every ticket.
CREATE INDEX ticket_events_outside ON ticket_events (ticket_id, action)
    WHERE action IN ('dispatch', 'outside_done');
