"""The microcv collector: receives beacons, validates and enriches them, produces to Kafka."""
