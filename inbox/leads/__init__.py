"""Leads of a prospect: type, source, follow-up status, dealer, qualify state."""
