"""Texts: drafting, the consent ledger, segments."""
