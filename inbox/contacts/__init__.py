"""Prospects as a contact database: names, emails, phones (E.164), postal code, kind."""
