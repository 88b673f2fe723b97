"""The local stack without Docker: `python -m stack up` and `python -m stack demo`."""
