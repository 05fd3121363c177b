"""What a run is asked to do: run configuration, matrix files, suite options, engine arguments,
context lengths and the shared vocabularies (dtype, template, beyond-capacity policy)."""
