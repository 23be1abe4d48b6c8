"""SLA: targets per category and priority, deadlines on business calendars, alerts."""
