"""Operations: the `microcv` CLI and the configuration reference.

It sits at the end of the import chain (it may import collector, snippet and consumers), so it
can check and document every package's configuration in one place.
"""
