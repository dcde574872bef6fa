"""The paper's forward kinematics (Tfk), its inverse, and the camera projection (Tc), in torch.

Conventions:
    * Points are row vectors: a pose is ``(..., 17, 3)`` in the joint order of :mod:`kspbench.core.skeleton`; a rotation
      ``R`` acts as ``p @ R.transpose(-1, -2)`` (i.e. ``R @ p`` for a column vector). Every function is batched over
      any leading shape ``...`` and differentiable; nothing loops over samples or joints (local frames loop over the
      3 levels of ``skeleton.FK_LEVELS``). A joint's position is the sum of the bone offsets on its path from the
      pelvis (a constant 17 x 17 ancestor matrix times the offsets).
    * Canonical frame C (the paper's canonical rule): pelvis at the origin, thorax (the paper's "neck") on +z at
      ``len[8]``, x is the facing direction of the body, ``y = z x x`` points to the subject's LEFT. The hip line
      lies in the YZ plane through the pelvis: ``LHip = len[4] * (0, cos phi, sin phi)`` and
      ``RHip = -len[1] * (0, cos phi, sin phi)``. ``phi`` in ``(-pi/2, pi/2)`` is the representable range
      (``inverse_kinematics`` returns ``phi`` in ``[-pi/2, pi/2]``: its y axis is chosen so the hip line points to +y).
    * ``vk`` (``(..., 40)``): ``vk[..., 0]`` is phi in radians, then 13 raw 3-vectors for
      ``skeleton.PREDICTED_JOINTS`` in that order, L2-normalised here. ``p(j) = p(parent(j)) + len(j) * v(j)``.
    * ``bone_lengths`` (``(..., 17)`` or ``(17,)``): the length of each joint's bone to its parent, any unit (trunk
      units for the model). Entry 0 is ignored; entries 1 and 4 are the half hip width; entry 8 is the
      pelvis -> thorax trunk (not the spine -> thorax bone).
    * The spine (joint 7) is a free unit vector from the pelvis, placed like any predicted joint; the spine -> thorax
      bone is therefore not enforced (it stays a limb map in Tm). This keeps vk at 1 + 13 * 3 = 40 numbers and lets the
      trunk bend (method notes 1.3.1).
    * ``frame="canonical"`` (default, the literal reading of the paper's equation): each v(j) is a direction in C.
      ``frame="local"``: each v(j) is expressed in a frame attached to the parent bone, see :func:`_parent_frames`;
      the "bone" of the pelvis is taken to be C's +z (the trunk), which makes the spine's local frame C itself, and
      the thorax's bone is pelvis -> thorax (+z), so the head and shoulders also start in C.
    * :func:`inverse_kinematics` returns the rigid transform from C to the pose's frame, ``p = R p_C + t`` (row form
      ``p = p_C @ R.T + t``), R's columns being C's axes in the pose's frame and t the pelvis.
    * Camera frame: computer-vision convention, x right, y down, z forward along the optical axis; 2D points are in
      normalised crop coordinates ``[-1, 1]`` (x right, y down).
    * NaN policy: :func:`inverse_kinematics` is where poses enter the kinematic model and it raises ``ValueError`` on
      non-finite input. :func:`forward_kinematics`, :func:`camera_rotation` and :func:`project` are training hot
      paths and do not check values (only shapes).
"""

from __future__ import annotations

import torch

from kspbench.core import skeleton

__all__ = [
    "DEFAULT_CAMERA_DISTANCE",
    "DEFAULT_FOCAL",
    "LOCAL_FRAME_PARALLEL_TOL",
    "canonical_bone_lengths",
    "forward_kinematics",
    "inverse_kinematics",
    "camera_rotation",
    "project",
]

# kspbench choices (method notes 1.3.3): the camera sits DEFAULT_CAMERA_DISTANCE trunk units in front of the pelvis,
# and a ~3.6-trunk-tall body then spans about 80 % of the [-1, 1] crop: f / d = 0.44.
DEFAULT_CAMERA_DISTANCE: float = 10.0
DEFAULT_FOCAL: float = 4.4

# Local frames: below this sine of the angle between the parent bone and C's x, the frame's x' axis is built from
# C's y instead of C's x (Gram-Schmidt against a nearly parallel axis would divide by ~0).
LOCAL_FRAME_PARALLEL_TOL: float = 1e-2

_FRAMES = ("canonical", "local")
# Any value in (0, 1] works: see _unit.
_ZERO_GUARD = 0.5
# Directions of the bones placed by the canonical rule, in this order: pelvis (C's +z by convention), RHip, LHip,
# thorax. The predicted joints follow them.
_ROOT_ORDER: tuple[int, ...] = (skeleton.ROOT, 1, 4, 8)
_PRED = skeleton.PREDICTED_JOINTS
_PRED_PARENTS: tuple[int, ...] = tuple(skeleton.PARENTS[j] for j in _PRED)
# FK places the thorax from the pelvis (canonical rule), not from the spine as skeleton.PARENTS has it.
_FK_PARENTS: tuple[int, ...] = tuple(0 if j == 8 else p for j, p in enumerate(skeleton.PARENTS))
# The root's own "parent" is itself, so its bone vector is zero.
_PARENTS_OR_SELF: tuple[int, ...] = tuple(max(p, 0) for p in skeleton.PARENTS)


def _inverse(order: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(order.index(j) for j in range(skeleton.NUM_JOINTS))


# Joint j's row in cat([roots, v_predicted]).
_CANON_GATHER = _inverse(_ROOT_ORDER + _PRED)
# Level-by-level build (local frames): roots, then FK_LEVELS in turn.
_LEVEL_ORDER: tuple[int, ...] = _ROOT_ORDER + sum(skeleton.FK_LEVELS, ())
_LEVEL_GATHER = _inverse(_LEVEL_ORDER)
_LEVEL_PARENT_ROWS: tuple[tuple[int, ...], ...] = tuple(
    tuple(_LEVEL_ORDER.index(skeleton.PARENTS[j]) for j in level) for level in skeleton.FK_LEVELS
)
_LEVEL_VK_ROWS: tuple[tuple[int, ...], ...] = tuple(
    tuple(_PRED.index(j) for j in level) for level in skeleton.FK_LEVELS
)


def _ancestor_matrix() -> tuple[tuple[float, ...], ...]:
    """A[j][k] = 1 if k is j or one of its FK ancestors: positions = A @ bone offsets."""
    rows = []
    for j in range(skeleton.NUM_JOINTS):
        row = [0.0] * skeleton.NUM_JOINTS
        k = j
        while k >= 0:
            row[k] = 1.0
            k = _FK_PARENTS[k]
        rows.append(tuple(row))
    return tuple(rows)


_ANCESTORS = _ancestor_matrix()


def _check_shape(name: str, x: torch.Tensor, tail: tuple[int, ...]) -> None:
    if x.dim() < len(tail) or tuple(x.shape[x.dim() - len(tail) :]) != tail:
        expected = "(..., " + ", ".join(str(t) for t in tail) + ")"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(x.shape)}")


def _check_frame(frame: str) -> None:
    if frame not in _FRAMES:
        raise ValueError(f"frame must be one of {_FRAMES}, got {frame!r}")


def _unit(x: torch.Tensor) -> torch.Tensor:
    """L2-normalise the last axis, safely for any magnitude.

    The vector is first divided by its largest absolute component, so squaring can neither overflow (huge raw
    vectors) nor underflow (tiny ones) and the result is a unit vector for any non-zero input. That scale is detached:
    the result does not depend on it, so its gradient would only add terms that cancel. After the rescaling the norm
    is either >= 1 or exactly 0 (the all-zero vector, whose scale is replaced by 1), so the guard below acts on the
    zero vector only: it maps to the zero vector with a finite gradient instead of 0 / 0 = NaN, which would poison a
    whole training batch.
    """
    scale = x.detach().abs().amax(dim=-1, keepdim=True)
    y = x / torch.where(scale > 0, scale, torch.ones_like(scale))
    return y / torch.linalg.vector_norm(y, dim=-1, keepdim=True).clamp_min(_ZERO_GUARD)


def _index(rows: tuple[int, ...], device: torch.device) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long, device=device)


def _root_directions(cos_phi: torch.Tensor, sin_phi: torch.Tensor) -> torch.Tensor:
    """Unit directions of the canonical-rule bones, ``(..., 4, 3)`` in ``_ROOT_ORDER``: pelvis, RHip, LHip, thorax."""
    zero = torch.zeros_like(cos_phi)
    one = torch.ones_like(cos_phi)
    up = torch.stack([zero, zero, one], dim=-1)
    hip = torch.stack([zero, cos_phi, sin_phi], dim=-1)
    return torch.stack([up, -hip, hip, up], dim=-2)


def _parent_frames(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Orthonormal frames ``(x', y', z')`` attached to unit parent-bone directions ``d`` (``(..., 3)``), all in C.

    z' = d; x' = C's x Gram-Schmidt-orthogonalised against d; when d is within LOCAL_FRAME_PARALLEL_TOL (sine) of
    +-x, C's y is used instead; y' = z' x x'. The switch is a discontinuity of the local representation (any
    continuous choice of frame must have one somewhere); it is placed where the x-based frame is ill-conditioned.
    """
    dx, dy = d[..., 0:1], d[..., 1:2]
    from_x = d.new_tensor([1.0, 0.0, 0.0]) - dx * d
    from_y = d.new_tensor([0.0, 1.0, 0.0]) - dy * d
    norm_x = torch.linalg.vector_norm(from_x, dim=-1, keepdim=True)
    norm_y = torch.linalg.vector_norm(from_y, dim=-1, keepdim=True)
    # Both branches are computed with clamped norms so the one not taken cannot put inf/NaN into the gradient.
    x_axis = torch.where(
        norm_x > LOCAL_FRAME_PARALLEL_TOL,
        from_x / norm_x.clamp_min(LOCAL_FRAME_PARALLEL_TOL),
        from_y / norm_y.clamp_min(LOCAL_FRAME_PARALLEL_TOL),
    )
    y_axis = torch.linalg.cross(d, x_axis, dim=-1)
    return x_axis, y_axis, d


def _local_to_canonical(v_local: torch.Tensor, parent_dir: torch.Tensor) -> torch.Tensor:
    x_axis, y_axis, z_axis = _parent_frames(parent_dir)
    return v_local[..., 0:1] * x_axis + v_local[..., 1:2] * y_axis + v_local[..., 2:3] * z_axis


def _canonical_to_local(v: torch.Tensor, parent_dir: torch.Tensor) -> torch.Tensor:
    axes = _parent_frames(parent_dir)
    return torch.stack([(v * a).sum(dim=-1) for a in axes], dim=-1)


def canonical_bone_lengths(
    trunk: float = 1.0, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """The canonical skeleton's bone lengths for :func:`forward_kinematics`.

    Args:
        trunk: Length of the straight pelvis -> thorax trunk (1.0 = trunk units).
        dtype: Output dtype.
        device: Output device.

    Returns:
        ``(17,)`` tensor: ``skeleton.BONE_LENGTH_RATIOS * trunk``, with entry 8 (the FK trunk) set to ``trunk``.
    """
    lengths = torch.tensor(skeleton.BONE_LENGTH_RATIOS, dtype=dtype, device=device) * trunk
    lengths[8] = trunk
    return lengths


def forward_kinematics(vk: torch.Tensor, bone_lengths: torch.Tensor, *, frame: str = "canonical") -> torch.Tensor:
    """The paper's Tfk: local-kinematic parameters to a 3D pose in the canonical frame C.

    Args:
        vk: ``(..., 40)``: phi (radians), then 13 raw 3-vectors for ``skeleton.PREDICTED_JOINTS``; the vectors are
            normalised here (a zero vector gives a zero-length bone and, with ``frame="local"``, no frame for the
            joint's children).
        bone_lengths: ``(..., 17)`` or ``(17,)``, broadcast against vk's leading shape; see the module docstring.
        frame: ``"canonical"`` (vectors are directions in C) or ``"local"`` (vectors in the parent bone's frame).

    Returns:
        ``(..., 17, 3)`` joint positions in C, in the unit of ``bone_lengths``.

    Raises:
        ValueError: On a wrong trailing shape or an unknown frame. Values are not checked (hot path).
    """
    _check_shape("vk", vk, (skeleton.VK_DIM,))
    _check_shape("bone_lengths", bone_lengths, (skeleton.NUM_JOINTS,))
    _check_frame(frame)
    device = vk.device
    phi = vk[..., 0]
    v = _unit(vk[..., 1:].unflatten(-1, (len(_PRED), 3)))
    roots = _root_directions(torch.cos(phi), torch.sin(phi))
    if frame == "canonical":
        directions = torch.cat([roots, v], dim=-2).index_select(-2, _index(_CANON_GATHER, device))
    else:
        # Level by level: a joint's frame needs its parent's direction in C, which the previous level produced.
        built = roots
        for parent_rows, vk_rows in zip(_LEVEL_PARENT_ROWS, _LEVEL_VK_ROWS):
            parent_dir = built.index_select(-2, _index(parent_rows, device))
            v_level = v.index_select(-2, _index(vk_rows, device))
            built = torch.cat([built, _local_to_canonical(v_level, parent_dir)], dim=-2)
        directions = built.index_select(-2, _index(_LEVEL_GATHER, device))
    lengths = bone_lengths.to(vk.dtype)
    # Entry 0 is ignored (not multiplied, so even a NaN there cannot leak in).
    lengths = torch.cat([torch.zeros_like(lengths[..., :1]), lengths[..., 1:]], dim=-1)
    offsets = lengths[..., None] * directions
    ancestors = torch.tensor(_ANCESTORS, dtype=offsets.dtype, device=device)
    # Each joint is the sum of the bone offsets on its path from the pelvis.
    return torch.matmul(ancestors, offsets)


def inverse_kinematics(
    p3d: torch.Tensor, *, frame: str = "canonical"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Canonical parameters of any pose, and the rigid transform from C back to the pose's frame.

    ``p3d ≈ forward_kinematics(vk, bone_lengths, frame=frame) @ rotation.transpose(-1, -2)
    + translation[..., None, :]``, i.e. ``p = R p_C + t``; exact (to rounding) for poses that obey the canonical rule
    (hips symmetric about the pelvis).
    C's axes from the pose: ``z = unit(thorax - pelvis)``, ``x = unit((LHip - RHip) x z)``, ``y = z x x``;
    ``t = pelvis``. Degenerate poses (thorax on the pelvis, hip line along the trunk) have no canonical frame: the
    undefined axes come out finite but meaningless (set by rounding noise, or zero vectors, so that ``rotation`` may
    not even be a rotation). Callers that can meet such poses should screen them first.

    Args:
        p3d: ``(..., 17, 3)`` pose in any frame and unit.
        frame: ``"canonical"`` or ``"local"``, as in :func:`forward_kinematics`.

    Returns:
        ``vk`` ``(..., 40)`` (unit vectors, phi in ``[-pi/2, pi/2]``), ``bone_lengths`` ``(..., 17)`` (from the pose;
        entries 1 and 4 are half the hip width, entry 8 is ``|thorax - pelvis|``, entry 0 is 0), ``rotation``
        ``(..., 3, 3)`` with columns x, y, z of C in the input frame (det +1), ``translation`` ``(..., 3)``.

    Raises:
        ValueError: On a wrong trailing shape, an unknown frame, or a non-finite value in ``p3d``.
    """
    _check_shape("p3d", p3d, (skeleton.NUM_JOINTS, 3))
    _check_frame(frame)
    if not bool(torch.isfinite(p3d).all()):
        raise ValueError("p3d contains non-finite values (NaN or inf)")
    device = p3d.device
    pelvis, thorax = p3d[..., skeleton.ROOT, :], p3d[..., 8, :]
    hip_line = p3d[..., 4, :] - p3d[..., 1, :]
    z_axis = _unit(thorax - pelvis)
    x_axis = _unit(torch.linalg.cross(hip_line, z_axis, dim=-1))
    y_axis = torch.linalg.cross(z_axis, x_axis, dim=-1)
    rotation = torch.stack([x_axis, y_axis, z_axis], dim=-1)
    p_c = (p3d - pelvis[..., None, :]) @ rotation  # row form of R^T (p - t)

    hip_c = p_c[..., 4, :] - p_c[..., 1, :]
    phi = torch.atan2(hip_c[..., 2], hip_c[..., 1])

    bones = p3d - p3d.index_select(-2, _index(_PARENTS_OR_SELF, device))
    lengths = torch.linalg.vector_norm(bones, dim=-1)
    half_hip = 0.5 * torch.linalg.vector_norm(hip_line, dim=-1, keepdim=True)
    trunk = torch.linalg.vector_norm(thorax - pelvis, dim=-1, keepdim=True)
    joint = torch.arange(skeleton.NUM_JOINTS, device=device)
    lengths = torch.where((joint == 1) | (joint == 4), half_hip, lengths)
    lengths = torch.where(joint == 8, trunk, lengths)

    pred = _index(_PRED, device)
    v = _unit(p_c.index_select(-2, pred) - p_c.index_select(-2, _index(_PRED_PARENTS, device)))
    if frame == "local":
        # The parent directions FK will use: the canonical-rule ones from phi, the predicted ones from v.
        hip_unit = _unit(hip_c[..., 1:])
        roots = _root_directions(hip_unit[..., 0], hip_unit[..., 1])
        directions = torch.cat([roots, v], dim=-2).index_select(-2, _index(_CANON_GATHER, device))
        v = _canonical_to_local(v, directions.index_select(-2, _index(_PRED_PARENTS, device)))
    vk = torch.cat([phi[..., None], v.flatten(-2)], dim=-1)
    return vk, lengths, rotation, pelvis


def _pair_rotation(sin: torch.Tensor, cos: torch.Tensor, axis: int) -> torch.Tensor:
    """Right-handed rotation about coordinate ``axis`` (0 = x, 2 = z), ``(..., 3, 3)``, from sin and cos."""
    zero, one = torch.zeros_like(sin), torch.ones_like(sin)
    if axis == 0:
        rows = [[one, zero, zero], [zero, cos, -sin], [zero, sin, cos]]
    else:
        rows = [[cos, -sin, zero], [sin, cos, zero], [zero, zero, one]]
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def camera_rotation(c6: torch.Tensor) -> torch.Tensor:
    """The paper's Rc from its 6 camera numbers.

    ``c6 = (sin psi, cos psi, sin elev, cos elev, sin rho, cos rho)`` (azimuth, elevation, roll); each pair is
    normalised to the unit circle here. ``Rc = Rz(rho) Rx(elev) R0 Rz_C(psi)`` maps C to the camera frame
    (x right, y down, z along the optical axis):

    * ``Rz_C(psi)`` turns the body about C's vertical z: psi = +90 deg turns its facing direction (+x) to its old
      left (+y); seen by the base camera, the subject then faces the image's right, its right side to the camera.
    * ``R0``: the camera in front of the subject (on C's +x) with zero angles: camera x = C's +y (the subject's left
      is on the image's right), camera y = C's -z (head up), camera z = C's -x.
    * ``Rx(elev)`` about the camera x axis: elev > 0 brings the head towards the camera, i.e. a camera above the
      subject looking down.
    * ``Rz(rho)`` about the optical axis: rho > 0 turns image +x towards image +y (clockwise on screen, y down).

    Args:
        c6: ``(..., 6)`` camera parameters.

    Returns:
        ``(..., 3, 3)`` rotation, det +1.

    Raises:
        ValueError: On a wrong trailing shape.
    """
    _check_shape("c6", c6, (6,))
    pairs = _unit(c6.unflatten(-1, (3, 2)))
    (s_psi, s_elev, s_rho), (c_psi, c_elev, c_rho) = pairs[..., 0].unbind(-1), pairs[..., 1].unbind(-1)
    base = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]], dtype=c6.dtype, device=c6.device)
    return _pair_rotation(s_rho, c_rho, 2) @ _pair_rotation(s_elev, c_elev, 0) @ base @ _pair_rotation(s_psi, c_psi, 2)


def project(
    p3d: torch.Tensor,
    rotation: torch.Tensor,
    translation: torch.Tensor,
    focal: float | torch.Tensor,
    *,
    eps: float = 1e-3,
) -> torch.Tensor:
    """The paper's Tc with its fixed perspective camera P: ``X = R p + t``, ``p2d = focal * (X / Z, Y / Z)``.

    Args:
        p3d: ``(..., 17, 3)`` points (in C for the model).
        rotation: ``(..., 3, 3)`` (e.g. :func:`camera_rotation`).
        translation: ``(..., 3)`` or ``(3,)``; the model uses ``(0, 0, DEFAULT_CAMERA_DISTANCE)``.
        focal: Scalar or ``(...,)`` tensor, in normalised crop units (the model uses ``DEFAULT_FOCAL``).
        eps: Depths are clamped to at least ``eps`` (in the unit of p3d) so a point on the camera plane cannot give
            inf; points behind the camera therefore project far outside the crop instead of mirroring into it.

    Returns:
        ``(..., 17, 2)`` points in normalised crop coordinates ``[-1, 1]`` (x right, y down).

    Raises:
        ValueError: On a wrong trailing shape.
    """
    _check_shape("p3d", p3d, (skeleton.NUM_JOINTS, 3))
    _check_shape("rotation", rotation, (3, 3))
    _check_shape("translation", translation, (3,))
    cam = p3d @ rotation.transpose(-1, -2) + translation[..., None, :]
    depth = cam[..., 2:3].clamp_min(eps)
    if isinstance(focal, torch.Tensor) and focal.dim() > 0:
        focal = focal[..., None, None]
    return focal * cam[..., :2] / depth
