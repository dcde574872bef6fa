"""kspbench: a benchmark and evaluation harness for unsupervised monocular 3D human pose estimation.

It implements "Kinematic-Structure-Preserved Representation for Unsupervised 3D Human Pose Estimation"
(Kundu et al., AAAI 2020), evaluates it under the standard Human3.6M and MPI-INF-3DHP protocols, and regenerates the
paper's tables beside the published numbers.
"""
__version__ = "0.1.0"
