"""microcv consumers: workers that turn the event stream into exact counters, and the query API."""
