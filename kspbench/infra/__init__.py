"""Floor 0, infrastructure every layer may use: atomic writes, progress lines, provenance, shipped data files and
the one typed config loader. Imports nothing else of kspbench (except the package's ``__version__``)."""
