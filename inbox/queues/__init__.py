"""Lead queues: a user's saved, counted views over leads."""
