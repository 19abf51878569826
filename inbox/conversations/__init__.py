"""One conversation per prospect, its messages across channels, attachments, rich text, per-viewer state."""
