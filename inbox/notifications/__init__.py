"""In-app notifications per user: reply received, task overdue, delivery failed."""
