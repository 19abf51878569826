"""The message search grid: criteria, one backend per database, CSV export."""
