"""Running: the runner, the run identity that keys records, the resumable store, the run
directory (lock, run.json, timings), the summary table and the engines' log."""
