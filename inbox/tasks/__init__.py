"""Tasks on prospects: status from the clock, permissions, the overdue notice."""
