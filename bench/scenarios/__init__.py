"""One module per scenario; each returns a `Section` of figures for the report."""
