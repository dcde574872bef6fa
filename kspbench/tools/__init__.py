"""Floor 7, tools over the whole pipeline: the regression gate (``kspbench check``) and the micro-benchmarks
(``kspbench bench``)."""
