"""Accounts and roles, sign-in sessions and login throttling, sender profiles and signatures."""
