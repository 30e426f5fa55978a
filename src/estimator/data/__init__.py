"""Data sources, schema inference and checks (the training side: uses pandas)."""
