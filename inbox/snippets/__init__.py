"""Shared canned text with merge fields."""
