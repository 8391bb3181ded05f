"""Migration scripts, applied in order by `db upgrade`."""
