"""Events and notifications: written to the outbox with the change, sent after commit."""
