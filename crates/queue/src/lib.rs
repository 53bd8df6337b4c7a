//! The claim side of the event queues.
