"""Executors run the roles of a run: `local` in this process, `ray` as Ray actors."""
