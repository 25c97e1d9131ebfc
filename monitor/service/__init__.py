"""Running the pipeline: the scheduler, one feed poll end to end, reloads, the instance lock."""
