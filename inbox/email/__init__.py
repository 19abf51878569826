"""Email in and out: drafting, placement of inbound mail in threads, mailboxes, bounces, suppression, reply tokens."""
