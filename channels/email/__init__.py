"""Email: MIME in and out, SMTP sending, IMAP watching."""
