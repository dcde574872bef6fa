"""Published reference numbers (data files)."""
