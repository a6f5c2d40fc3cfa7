"""Failure drills: known events through the whole stack, something broken and healed, a count.

Each drill sends beacons with unique event ids to the real collector (retrying a refused beacon
with the same ids, as the tag does), breaks one part of the pipeline mid-stream, heals it, waits
for the workers to drain, and reads every event's own counter back from Redis. An event whose
beacon was answered 2xx and that is not counted is lost; an event counted more than once is
doubled. `python -m bench.drills` runs them all; tests/drills runs the short forms in CI.
"""
