"""Tests for kspbench.core.kinematics: Tfk, its inverse, the camera rotation and Tc."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from factories import SHARED
from kspbench.core import skeleton
from kspbench.core.kinematics import (
    DEFAULT_CAMERA_DISTANCE,
    DEFAULT_FOCAL,
    camera_rotation,
    canonical_bone_lengths,
    forward_kinematics,
    inverse_kinematics,
    project,
)

FRAMES = ("canonical", "local")
CMU17 = SHARED / "mocap/cmu17.npz"
# FK's placement parents: the thorax hangs from the pelvis (canonical rule), everything else as skeleton.PARENTS.
FK_PARENTS = [0 if j == 8 else max(p, 0) for j, p in enumerate(skeleton.PARENTS)]


def random_vk(gen: torch.Generator, n: int, dtype: torch.dtype = torch.float64, phi_max: float = 1.3) -> torch.Tensor:
    vk = torch.randn(n, skeleton.VK_DIM, generator=gen, dtype=dtype)
    vk[:, 0] = (2 * torch.rand(n, generator=gen, dtype=dtype) - 1) * phi_max
    return vk


def random_lengths(gen: torch.Generator, n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Per-sample lengths around the canonical ones (each scaled independently), with len[1] == len[4]."""
    jitter = 0.5 + torch.rand(n, skeleton.NUM_JOINTS, generator=gen, dtype=dtype)
    lengths = canonical_bone_lengths(dtype=dtype) * jitter
    lengths[:, 1] = lengths[:, 4]
    return lengths


def random_rotation(gen: torch.Generator, n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=gen, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[..., None, :]
    flip = torch.linalg.det(q) < 0
    q[flip, :, 0] *= -1
    return q


def unit_vectors(vk: torch.Tensor) -> torch.Tensor:
    v = vk[..., 1:].unflatten(-1, (13, 3))
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)


def fk_bone_lengths(p3d: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(p3d - p3d[..., FK_PARENTS, :], dim=-1)


def c6_from_angles(psi: float = 0.0, eps: float = 0.0, rho: float = 0.0) -> torch.Tensor:
    a = torch.tensor([psi, eps, rho], dtype=torch.float64)
    return torch.stack([a.sin(), a.cos()], dim=-1).flatten()


# --- forward kinematics -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bone_lengths_preserved(frame: str, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(1)
    vk = random_vk(gen, 256, dtype)
    # Raw vectors from 1e-30 to 1e30: the normalisation must neither underflow nor overflow.
    scale = 10.0 ** (torch.rand(256, 13, 1, generator=gen, dtype=torch.float64) * 60 - 30).to(dtype)
    vk[:, 1:] = (vk[:, 1:].unflatten(-1, (13, 3)) * scale).flatten(-2)
    lengths = random_lengths(gen, 256, dtype)
    p3d = forward_kinematics(vk, lengths, frame=frame)
    assert p3d.shape == (256, 17, 3) and p3d.dtype == dtype
    got = fk_bone_lengths(p3d)[:, 1:]
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(got, lengths[:, 1:], rtol=tol, atol=0)


@settings(max_examples=40, deadline=None, database=None)  # no .hypothesis/ in the repo
@given(
    exponent=st.floats(min_value=-35.0, max_value=35.0),
    raw=st.lists(st.floats(min_value=-1.0, max_value=1.0), min_size=3, max_size=3).filter(
        lambda v: max(abs(x) for x in v) > 1e-3
    ),
    joint=st.integers(min_value=0, max_value=12),
    frame=st.sampled_from(FRAMES),
)
def test_bone_length_any_magnitude_float32(exponent: float, raw: list[float], joint: int, frame: str) -> None:
    vk = torch.zeros(skeleton.VK_DIM)
    vk[1:] = 1.0
    vk[1 + 3 * joint : 4 + 3 * joint] = torch.tensor(raw) * 10.0**exponent
    lengths = canonical_bone_lengths()
    p3d = forward_kinematics(vk, lengths, frame=frame)
    j = skeleton.PREDICTED_JOINTS[joint]
    got = torch.linalg.vector_norm(p3d[j] - p3d[skeleton.PARENTS[j]])
    assert torch.isfinite(p3d).all()
    assert abs(got.item() - lengths[j].item()) <= 1e-6 * lengths[j].item()


@pytest.mark.parametrize("frame", FRAMES)
def test_canonical_constraints(frame: str) -> None:
    gen = torch.Generator().manual_seed(2)
    vk = random_vk(gen, 64)
    lengths = random_lengths(gen, 64)
    p3d = forward_kinematics(vk, lengths, frame=frame)
    phi, r = vk[:, 0], lengths[:, 4]
    zero = torch.zeros(64, dtype=torch.float64)
    torch.testing.assert_close(p3d[:, 0], torch.zeros(64, 3, dtype=torch.float64), rtol=0, atol=0)
    torch.testing.assert_close(p3d[:, 8], torch.stack([zero, zero, lengths[:, 8]], -1))
    torch.testing.assert_close(p3d[:, 4], r[:, None] * torch.stack([zero, phi.cos(), phi.sin()], -1))
    torch.testing.assert_close(p3d[:, 1], -p3d[:, 4])
    assert (p3d[:, [1, 4], 0] == 0).all()
    torch.testing.assert_close(torch.linalg.vector_norm(p3d[:, 4] - p3d[:, 1], dim=-1), 2 * r)


def test_unequal_hip_lengths_each_kept() -> None:
    vk = random_vk(torch.Generator().manual_seed(3), 4)
    lengths = canonical_bone_lengths(dtype=torch.float64)
    lengths[1], lengths[4] = 0.2, 0.3
    p3d = forward_kinematics(vk, lengths)
    torch.testing.assert_close(torch.linalg.vector_norm(p3d[:, 1], dim=-1), torch.full((4,), 0.2, dtype=torch.float64))
    torch.testing.assert_close(torch.linalg.vector_norm(p3d[:, 4], dim=-1), torch.full((4,), 0.3, dtype=torch.float64))
    # Still on one line through the pelvis, on opposite sides.
    torch.testing.assert_close(p3d[:, 1] / 0.2, -p3d[:, 4] / 0.3)


def test_canonical_frame_vectors_are_directions_in_c() -> None:
    gen = torch.Generator().manual_seed(4)
    vk = random_vk(gen, 8)
    lengths = random_lengths(gen, 8)
    p3d = forward_kinematics(vk, lengths)
    pred, parents = list(skeleton.PREDICTED_JOINTS), [skeleton.PARENTS[j] for j in skeleton.PREDICTED_JOINTS]
    expected = p3d[:, parents] + lengths[:, pred, None] * unit_vectors(vk)
    torch.testing.assert_close(p3d[:, pred], expected)


def test_local_frame_hand_cases() -> None:
    lengths = canonical_bone_lengths(dtype=torch.float64)
    vk = torch.zeros(skeleton.VK_DIM, dtype=torch.float64)
    vec = {j: k for k, j in enumerate(skeleton.PREDICTED_JOINTS)}

    def put(joint: int, v: tuple[float, float, float]) -> None:
        vk[1 + 3 * vec[joint] : 4 + 3 * vec[joint]] = torch.tensor(v, dtype=torch.float64)

    for j in skeleton.PREDICTED_JOINTS:
        put(j, (0.0, 0.0, 1.0))  # straight on along the parent bone
    put(11, (0.0, 1.0, 0.0))  # LShoulder: the thorax's frame is C, so this is C's +y
    put(12, (1.0, 0.0, 0.0))  # LElbow: upper arm along +y, x' = C's x -> forward
    put(14, (1.0, 0.0, 0.0))  # RShoulder: C's +x (forward)
    put(15, (1.0, 0.0, 0.0))  # RElbow: upper arm along C's x -> fallback x' = C's y
    put(16, (0.0, 1.0, 0.0))  # RWrist: parent bone along y, x' = C's x, y' = z' x x' = y x x = -z
    p = forward_kinematics(vk, lengths, frame="local")
    r = lengths[4]

    def direction(j: int) -> torch.Tensor:
        return (p[j] - p[skeleton.PARENTS[j]]) / lengths[j]

    t = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(p[4], t(0.0, r, 0.0))
    torch.testing.assert_close(direction(5), t(0.0, 1.0, 0.0))  # knee continues the hip line
    torch.testing.assert_close(direction(2), t(0.0, -1.0, 0.0))
    torch.testing.assert_close(direction(7), t(0.0, 0.0, 1.0))  # spine: frame C
    torch.testing.assert_close(direction(9), t(0.0, 0.0, 1.0))
    torch.testing.assert_close(direction(11), t(0.0, 1.0, 0.0))
    torch.testing.assert_close(direction(12), t(1.0, 0.0, 0.0))
    torch.testing.assert_close(direction(13), t(1.0, 0.0, 0.0))
    torch.testing.assert_close(direction(14), t(1.0, 0.0, 0.0))
    torch.testing.assert_close(direction(15), t(0.0, 1.0, 0.0))
    torch.testing.assert_close(direction(16), t(0.0, 0.0, -1.0))


def test_zero_raw_vector_is_finite_with_finite_gradient() -> None:
    vk = random_vk(torch.Generator().manual_seed(5), 2).requires_grad_(True)
    with torch.no_grad():
        vk[:, 4:7] = 0.0  # RAnkle's vector
    for frame in FRAMES:
        p3d = forward_kinematics(vk, canonical_bone_lengths(dtype=torch.float64), frame=frame)
        (grad,) = torch.autograd.grad(p3d.sum(), vk)
        assert torch.isfinite(p3d).all() and torch.isfinite(grad).all()
        torch.testing.assert_close(p3d[:, 3], p3d[:, 2])  # zero-length bone


def test_broadcast_leading_shapes() -> None:
    gen = torch.Generator().manual_seed(6)
    vk = random_vk(gen, 6).reshape(2, 3, skeleton.VK_DIM)
    per_column = random_lengths(gen, 3)
    for lengths in (canonical_bone_lengths(dtype=torch.float64), per_column):
        for frame in FRAMES:
            p3d = forward_kinematics(vk, lengths, frame=frame)
            assert p3d.shape == (2, 3, 17, 3)
            flat = forward_kinematics(
                vk.reshape(6, -1),
                lengths.expand(2, 3, 17).reshape(6, 17) if lengths.dim() == 2 else lengths,
                frame=frame,
            )
            torch.testing.assert_close(p3d.reshape(6, 17, 3), flat)


def test_frames_differ() -> None:
    gen = torch.Generator().manual_seed(7)
    vk, lengths = random_vk(gen, 4), random_lengths(gen, 4)
    a = forward_kinematics(vk, lengths, frame="canonical")
    b = forward_kinematics(vk, lengths, frame="local")
    assert (a - b).abs().max() > 0.1


def test_canonical_bone_lengths() -> None:
    lengths = canonical_bone_lengths(2.0, dtype=torch.float64)
    expected = 2.0 * torch.tensor(skeleton.BONE_LENGTH_RATIOS, dtype=torch.float64)
    assert lengths.shape == (17,) and lengths[8] == 2.0
    keep = [j for j in range(17) if j != 8]
    torch.testing.assert_close(lengths[keep], expected[keep])


# --- inverse kinematics -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", FRAMES)
def test_ik_of_fk_returns_parameters(frame: str) -> None:
    gen = torch.Generator().manual_seed(8)
    vk, lengths = random_vk(gen, 128), random_lengths(gen, 128)
    vk_ik, len_ik, rot, trans = inverse_kinematics(forward_kinematics(vk, lengths, frame=frame), frame=frame)
    torch.testing.assert_close(vk_ik[:, 0], vk[:, 0])
    torch.testing.assert_close(unit_vectors(vk_ik), unit_vectors(vk))
    torch.testing.assert_close(len_ik[:, 1:], lengths[:, 1:])
    assert (len_ik[:, 0] == 0).all()
    torch.testing.assert_close(rot, torch.eye(3, dtype=torch.float64).expand(128, 3, 3))
    torch.testing.assert_close(trans, torch.zeros(128, 3, dtype=torch.float64))


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fk_of_ik_undoes_rigid_transform(frame: str, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(9)
    vk, lengths = random_vk(gen, 128), random_lengths(gen, 128) * 300.0  # mm-like units
    rot = random_rotation(gen, 128)
    trans = torch.randn(128, 3, generator=gen, dtype=torch.float64) * 2000.0
    canonical = forward_kinematics(vk, lengths, frame=frame)
    pose = (canonical @ rot.transpose(-1, -2) + trans[:, None, :]).to(dtype)
    vk_ik, len_ik, rot_ik, trans_ik = inverse_kinematics(pose, frame=frame)
    back = forward_kinematics(vk_ik, len_ik, frame=frame) @ rot_ik.transpose(-1, -2) + trans_ik[..., None, :]
    scale = torch.linalg.vector_norm(pose - pose[:, :1], dim=-1).amax()
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert ((back - pose).abs().max() / scale).item() < tol
    torch.testing.assert_close(rot_ik.double(), rot, rtol=0, atol=50 * tol)
    torch.testing.assert_close(trans_ik.double(), trans, rtol=tol, atol=0)
    torch.testing.assert_close(vk_ik.double()[:, 0], vk[:, 0], rtol=0, atol=50 * tol)


def test_ik_phi_range_and_rotation_orthonormal() -> None:
    gen = torch.Generator().manual_seed(10)
    pose = torch.randn(256, 17, 3, generator=gen, dtype=torch.float64)
    vk, lengths, rot, trans = inverse_kinematics(pose)
    assert (vk[:, 0].abs() <= math.pi / 2 + 1e-12).all()
    eye = torch.eye(3, dtype=torch.float64).expand(256, 3, 3)
    torch.testing.assert_close(rot.transpose(-1, -2) @ rot, eye)
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(256, dtype=torch.float64))
    torch.testing.assert_close(trans, pose[:, 0])
    # Lengths come from the pose itself.
    torch.testing.assert_close(lengths[:, 2], torch.linalg.vector_norm(pose[:, 2] - pose[:, 1], dim=-1))
    torch.testing.assert_close(lengths[:, 8], torch.linalg.vector_norm(pose[:, 8] - pose[:, 0], dim=-1))
    torch.testing.assert_close(lengths[:, 1], 0.5 * torch.linalg.vector_norm(pose[:, 4] - pose[:, 1], dim=-1))
    # The canonical pose: thorax on +z, hip line with zero x.
    p_c = (pose - trans[:, None]) @ rot
    torch.testing.assert_close(p_c[:, 8, :2], torch.zeros(256, 2, dtype=torch.float64))
    torch.testing.assert_close(p_c[:, 4, 0] - p_c[:, 1, 0], torch.zeros(256, dtype=torch.float64))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_ik_rejects_non_finite(bad: float) -> None:
    pose = torch.randn(3, 17, 3)
    pose[1, 5, 2] = bad
    with pytest.raises(ValueError, match="non-finite"):
        inverse_kinematics(pose)


@pytest.mark.skipif(not CMU17.exists(), reason=f"real motion file absent: {CMU17}")
def test_fk_of_ik_on_real_motion() -> None:
    data = np.load(CMU17)
    pose = torch.from_numpy(data["positions"].astype(np.float64))
    assert pose.shape[1:] == (17, 3) and list(data["parents"]) == list(skeleton.PARENTS)
    for frame in FRAMES:
        vk, lengths, rot, trans = inverse_kinematics(pose, frame=frame)
        back = forward_kinematics(vk, lengths, frame=frame) @ rot.transpose(-1, -2) + trans[:, None, :]
        err = torch.linalg.vector_norm(back - pose, dim=-1)
        # The file's pelvis is the hips' midpoint to float32 rounding, so FK o IK is exact up to that (< 1 mm).
        assert err.max().item() < 1e-3, err.max().item()


# --- camera and projection --------------------------------------------------------------------------------------


def pose_with(points: dict[int, tuple[float, float, float]]) -> torch.Tensor:
    pose = torch.zeros(17, 3, dtype=torch.float64)
    for j, xyz in points.items():
        pose[j] = torch.tensor(xyz, dtype=torch.float64)
    return pose


def default_projection(c6: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    t = torch.tensor([0.0, 0.0, DEFAULT_CAMERA_DISTANCE], dtype=torch.float64)
    return project(pose, camera_rotation(c6), t, DEFAULT_FOCAL)


def test_zero_angles_base_view() -> None:
    rot = camera_rotation(c6_from_angles())
    base = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(rot, base)
    p2d = default_projection(c6_from_angles(), pose_with({1: (0.0, 1.0, 0.0), 2: (0.0, 0.0, 1.0)}))
    torch.testing.assert_close(p2d[0], torch.zeros(2, dtype=torch.float64))  # pelvis at the centre
    torch.testing.assert_close(p2d[1], torch.tensor([0.44, 0.0], dtype=torch.float64))  # left -> image right
    torch.testing.assert_close(p2d[2], torch.tensor([0.0, -0.44], dtype=torch.float64))  # up -> image up


def test_hand_computed_angles() -> None:
    # Elevation 30 deg: C (0,0,1) -> R0 (0,-1,0) -> Rx (0,-cos30,-sin30); +t: Y = -0.866, Z = 9.5.
    p2d = default_projection(c6_from_angles(eps=math.radians(30)), pose_with({8: (0.0, 0.0, 1.0)}))
    torch.testing.assert_close(
        p2d[8], torch.tensor([0.0, -4.4 * math.cos(math.radians(30)) / 9.5], dtype=torch.float64)
    )
    # Elevation 90 deg: looking straight down, the point in front of the subject is at the image bottom.
    p2d = default_projection(c6_from_angles(eps=math.pi / 2), pose_with({8: (0.0, 0.0, 1.0), 3: (1.0, 0.0, 0.0)}))
    torch.testing.assert_close(p2d[8], torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(p2d[3], torch.tensor([0.0, 0.44], dtype=torch.float64))
    # Roll 90 deg: image +x turns to image +y.
    p2d = default_projection(c6_from_angles(rho=math.pi / 2), pose_with({1: (0.0, 1.0, 0.0)}))
    torch.testing.assert_close(p2d[1], torch.tensor([0.0, 0.44], dtype=torch.float64))
    # Azimuth 90 deg: the body's front (+x) turns to its left (+y), i.e. to the image right.
    p2d = default_projection(c6_from_angles(psi=math.pi / 2), pose_with({3: (1.0, 0.0, 0.0), 4: (0.0, 1.0, 0.0)}))
    torch.testing.assert_close(p2d[3], torch.tensor([0.44, 0.0], dtype=torch.float64))
    torch.testing.assert_close(p2d[4], torch.zeros(2, dtype=torch.float64))  # left side now faces away
    # Elevation 30 deg then roll 90 deg: (0,-cos30,-sin30) -> Rz(90) -> (cos30, 0, -sin30); the other order gives 0.44.
    p2d = default_projection(c6_from_angles(eps=math.radians(30), rho=math.pi / 2), pose_with({8: (0.0, 0.0, 1.0)}))
    torch.testing.assert_close(p2d[8], torch.tensor([4.4 * math.cos(math.radians(30)) / 9.5, 0.0], dtype=torch.float64))
    # Azimuth 90 deg then elevation 30 deg, composed in the documented order: C (1,0,0) -> (0,1,0) -> R0 (1,0,0).
    p2d = default_projection(c6_from_angles(psi=math.pi / 2, eps=math.radians(30)), pose_with({3: (1.0, 0.0, 0.0)}))
    torch.testing.assert_close(p2d[3], torch.tensor([0.44, 0.0], dtype=torch.float64))


def test_camera_rotation_normalises_pairs_and_is_proper() -> None:
    gen = torch.Generator().manual_seed(11)
    c6 = torch.randn(4, 5, 6, generator=gen, dtype=torch.float64)
    rot = camera_rotation(c6)
    assert rot.shape == (4, 5, 3, 3)
    eye = torch.eye(3, dtype=torch.float64).expand(4, 5, 3, 3)
    torch.testing.assert_close(rot @ rot.transpose(-1, -2), eye)
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(4, 5, dtype=torch.float64))
    scales = torch.rand(4, 5, 3, 1, generator=gen, dtype=torch.float64) * 10 + 0.01
    torch.testing.assert_close(camera_rotation((c6.unflatten(-1, (3, 2)) * scales).flatten(-2)), rot)


def test_project_broadcasts_focal_and_translation() -> None:
    gen = torch.Generator().manual_seed(12)
    pose = torch.randn(3, 17, 3, generator=gen, dtype=torch.float64)
    rot = camera_rotation(torch.randn(3, 6, generator=gen, dtype=torch.float64))
    t = torch.tensor([0.1, -0.2, 10.0], dtype=torch.float64)
    focal = torch.tensor([1.0, 2.0, 4.4], dtype=torch.float64)
    p2d = project(pose, rot, t, focal)
    assert p2d.shape == (3, 17, 2)
    cam = torch.einsum("bij,bkj->bki", rot, pose) + t
    torch.testing.assert_close(p2d, focal[:, None, None] * cam[..., :2] / cam[..., 2:])
    torch.testing.assert_close(project(pose, rot, t.expand(3, 3), 4.4), 4.4 * cam[..., :2] / cam[..., 2:])


def test_project_clamps_depth() -> None:
    pose = pose_with({5: (10.0, 0.5, 0.0)})  # on the camera plane with the default camera
    p2d = default_projection(c6_from_angles(), pose)
    assert torch.isfinite(p2d).all()
    torch.testing.assert_close(p2d[5], torch.tensor([4.4 * 0.5 / 1e-3, 0.0], dtype=torch.float64))


# --- gradients --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", FRAMES)
def test_gradcheck_forward_kinematics(frame: str) -> None:
    gen = torch.Generator().manual_seed(13)
    vk = random_vk(gen, 2).requires_grad_(True)
    lengths = random_lengths(gen, 2).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: forward_kinematics(a, b, frame=frame), (vk, lengths))


@pytest.mark.parametrize("frame", FRAMES)
def test_gradcheck_inverse_kinematics(frame: str) -> None:
    pose = torch.randn(2, 17, 3, generator=torch.Generator().manual_seed(14), dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: inverse_kinematics(p, frame=frame), (pose.requires_grad_(True),))


def test_gradcheck_camera_and_projection() -> None:
    gen = torch.Generator().manual_seed(15)
    c6 = torch.randn(2, 6, generator=gen, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(camera_rotation, (c6,))
    pose = torch.randn(2, 17, 3, generator=gen, dtype=torch.float64).requires_grad_(True)
    t = torch.tensor([0.0, 0.0, 10.0], dtype=torch.float64).requires_grad_(True)
    focal = torch.tensor([4.4, 3.0], dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p, c, tt, f: project(p, camera_rotation(c), tt, f), (pose, c6, t, focal))


# --- shape errors -----------------------------------------------------------------------------------------------


def test_shape_errors_name_expected_and_received() -> None:
    lengths = canonical_bone_lengths()
    with pytest.raises(ValueError, match=r"vk must have shape \(\.\.\., 40\), got \(8, 39\)"):
        forward_kinematics(torch.zeros(8, 39), lengths)
    with pytest.raises(ValueError, match=r"bone_lengths must have shape \(\.\.\., 17\), got \(16,\)"):
        forward_kinematics(torch.zeros(8, 40), torch.zeros(16))
    with pytest.raises(ValueError, match="frame"):
        forward_kinematics(torch.zeros(8, 40), lengths, frame="world")
    with pytest.raises(ValueError, match=r"p3d must have shape \(\.\.\., 17, 3\), got \(4, 17, 2\)"):
        inverse_kinematics(torch.zeros(4, 17, 2))
    with pytest.raises(ValueError, match=r"c6 must have shape \(\.\.\., 6\), got \(3, 4\)"):
        camera_rotation(torch.zeros(3, 4))
    pose, rot = torch.zeros(17, 3), torch.eye(3)
    with pytest.raises(ValueError, match=r"p3d must have shape \(\.\.\., 17, 3\), got \(16, 3\)"):
        project(torch.zeros(16, 3), rot, torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match=r"rotation must have shape \(\.\.\., 3, 3\), got \(3, 2\)"):
        project(pose, torch.zeros(3, 2), torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match=r"translation must have shape \(\.\.\., 3\), got \(2,\)"):
        project(pose, rot, torch.zeros(2), 1.0)
