"""How well the kinematic model (Tfk) represents real human motion: FK o IK residuals on CMU motion in mm.

Usage: ``python benchmarks/measure_ik_residual.py [path/to/cmu17.npz]`` (default: ``../shared/mocap/cmu17.npz``
beside the repository). Prints, over every frame and joint:

(a) the FK o IK residual with each pose's own bone lengths: the representation itself (canonical rule included);
(b) the residual under the model's real constraint: each pose's own vk with the canonical bone-length ratios
    (``skeleton.BONE_LENGTH_RATIOS``) scaled so the trunk equals the pose's own trunk, mapped back with the pose's
    own rotation and translation; raw, and after a per-frame similarity Procrustes alignment (protocol-II style).

A measurement, not a test: the figures go into the README, nothing here is part of the package.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from kspbench.core import skeleton
from kspbench.core.kinematics import forward_kinematics, inverse_kinematics
from kspbench.evaluation.metrics import procrustes_align


def summarise(name: str, err: np.ndarray) -> None:
    print(
        f"{name:<46} mean {err.mean():9.4g}  median {np.median(err):9.4g}  p99 {np.percentile(err, 99):9.4g}"
        f"  max {err.max():9.4g}  (mm, per joint; mean = MPJPE)"
    )


def main(argv: list[str]) -> int:
    default = Path(__file__).resolve().parents[2] / "shared/mocap/cmu17.npz"
    path = Path(argv[1]) if len(argv) > 1 else default
    if not path.exists():
        print(f"no motion file at {path}", file=sys.stderr)
        return 1
    data = np.load(path)
    pose = torch.from_numpy(data["positions"].astype(np.float64))
    print(f"{path}: {pose.shape[0]} frames, {pose.shape[1]} joints")

    for frame in ("canonical", "local"):
        vk, lengths, rot, trans = inverse_kinematics(pose, frame=frame)
        back = forward_kinematics(vk, lengths, frame=frame) @ rot.transpose(-1, -2) + trans[:, None, :]
        summarise(f"(a) own lengths, frame={frame}", torch.linalg.vector_norm(back - pose, dim=-1).numpy())

    vk, lengths, rot, trans = inverse_kinematics(pose)
    trunk = lengths[:, 8:9]
    ratio = torch.tensor(skeleton.BONE_LENGTH_RATIOS, dtype=torch.float64)
    canon = ratio * trunk
    canon[:, 8] = trunk[:, 0]
    model = (forward_kinematics(vk, canon) @ rot.transpose(-1, -2) + trans[:, None, :]).numpy()
    target = pose.numpy()
    raw = np.linalg.norm(model - target, axis=-1)
    aligned = np.linalg.norm(procrustes_align(model, target) - target, axis=-1)
    summarise("(b) canonical ratios x own trunk, raw", raw)
    summarise("(b) canonical ratios x own trunk, Procrustes", aligned)
    worst = np.argsort(-raw.mean(axis=0))[:5]
    worst_text = ", ".join(f"{skeleton.JOINT_NAMES[j]} {raw[:, j].mean():.1f}" for j in worst)
    print("(b) raw, worst joints (mean mm):", worst_text)
    own_trunk = float(trunk.mean())
    print(f"own trunk (pelvis->thorax): mean {own_trunk:.1f} mm; S1 canonical trunk {skeleton.TRUNK_MM:.1f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
