"""Floor 1, the pure math of a pose: the 17-joint skeleton, the kinematic transforms, the spatial maps and the crop
geometry. Batched, vectorised functions on arrays and tensors; no file I/O; imports only :mod:`kspbench.infra`."""
