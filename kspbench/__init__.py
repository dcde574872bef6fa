"""kspbench: a benchmark and evaluation harness for unsupervised monocular 3D human pose estimation.

It implements "Kinematic-Structure-Preserved Representation for Unsupervised 3D Human Pose Estimation"
(Kundu et al., AAAI 2020), evaluates it under the standard Human3.6M and MPI-INF-3DHP protocols, and regenerates the
paper's tables beside the published numbers.

For notebooks: ``kspbench.evaluate_file(predictions, store, protocol=...)`` and
``kspbench.evaluate_arrays(pred, gt, protocol=...)`` (:mod:`kspbench.api`).
"""

__version__ = "0.1.0"

_API = ("evaluate_file", "evaluate_arrays")


def __getattr__(name: str):
    # Lazy: `import kspbench` (and the CLI's start-up) must not import numpy, h5py and the evaluator.
    if name in _API:
        from kspbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'kspbench' has no attribute {name!r}")
