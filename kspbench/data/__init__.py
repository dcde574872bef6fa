"""Floor 2, data on disk: the common HDF5 pose store, predictions files and their model block, the dataset formats
(``formats/``) with the importers that drive them, and other projects' prediction files (``outside/``)."""
