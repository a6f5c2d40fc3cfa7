"""The microcv tag: the tracker script and the generator that fills in a site's config."""
