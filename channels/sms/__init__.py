"""SMS providers: a sandbox for the demo and tests, and a Twilio-compatible REST provider."""
