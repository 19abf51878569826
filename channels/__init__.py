"""Adapters to the outside world: email (SMTP, IMAP, MIME) and SMS providers."""
