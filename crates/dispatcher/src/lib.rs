//! Routing of captured events into the queues of subscribed services.
