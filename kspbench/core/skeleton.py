"""The skeleton every part of kspbench shares: Human3.6M's 17-joint layout, as data.

Conventions:
    * Joint order is the Human3.6M 17-joint order used by VideoPose3D, 3d-pose-baseline and Rhodin et al. 2018.
    * Joint 0 (pelvis) is the root. ``PARENTS[j]`` is the parent of joint ``j`` (``-1`` for the root).
    * Bone ``b`` joins ``BONES[b] = (PARENTS[b + 1], b + 1)``: the bone of joint ``j`` has index ``j - 1``.
      The same 16 bones are the 16 limb (affinity) maps of the paper's Tm.
    * Lengths are in millimetres (``*_MM``) or in trunk units (``*_RATIO``): the trunk is pelvis -> thorax with the
      spine straight, the unit of the paper's "fixed canonical scale".

Sources (see also ``README.md``, section "Skeleton"):
    [H36M]  Human3.6M 32-joint skeleton, reduced to 17 joints by VideoPose3D (facebookresearch/VideoPose3D,
            ``common/h36m_dataset.py``: ``remove_joints([4,5,9,10,11,16,20,21,22,23,24,28,29,30,31])``);
            joint names from 3d-pose-baseline (una-dinosauria/3d-pose-baseline, ``src/data_utils.py``, ``H36M_NAMES``).
    [S1]    Human3.6M subject S1 skeleton offsets (metadata), in mm, as quoted by public H36M loaders:
            chains ``[132.95, 442.89, 454.21]`` (hip, thigh, shin), ``[233.58, 257.08, 121.13, 115.00]``
            (spine, thorax, neck, head), ``[151.03, 278.88, 251.73]`` (clavicle, upper arm, forearm); the
            pelvis->spine offset is 0.10 + 233.38 = 233.48 mm in the raw 32-joint offsets.
    [3DHP]  MPI-INF-3DHP official test utilities (``mpii_get_joints('relevant')``), MMPose
            ``Body3DMpiInf3dhpDataset`` and mmhuman3d ``MPI_INF_3DHP_TEST_KEYPOINTS``: the 17-joint test order and
            the 28 -> 17 index list ``[7,5,14,15,16,9,10,11,23,24,25,18,19,20,4,3,6]`` (0-based).
    [W]     Limb widths: typical adult values in mm, a kspbench proposal (not measured from a dataset); they only
            set the thickness of the limb maps, never a metric.
"""

from __future__ import annotations

import numpy as np

NUM_JOINTS = 17
NUM_BONES = 16

# [H36M] joint order.
JOINT_NAMES: tuple[str, ...] = (
    "Pelvis",
    "RHip",
    "RKnee",
    "RAnkle",
    "LHip",
    "LKnee",
    "LAnkle",
    "Spine",
    "Thorax",
    "Neck/Nose",
    "HeadTop",
    "LShoulder",
    "LElbow",
    "LWrist",
    "RShoulder",
    "RElbow",
    "RWrist",
)
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
ROOT = 0

# Bone b = (PARENTS[b+1], b+1); one bone per non-root joint.
BONES: tuple[tuple[int, int], ...] = tuple((PARENTS[j], j) for j in range(1, NUM_JOINTS))
BONE_NAMES: tuple[str, ...] = tuple(f"{JOINT_NAMES[p]}-{JOINT_NAMES[c]}" for p, c in BONES)

# Left/right symmetry [H36M keypoints_symmetry]: left (4,5,6,11,12,13) <-> right (1,2,3,14,15,16).
LEFT_JOINTS: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS: tuple[int, ...] = (1, 2, 3, 14, 15, 16)
FLIP_PERMUTATION: tuple[int, ...] = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)
# Bones inherit the permutation of their child joint.
LIMB_FLIP_PERMUTATION: tuple[int, ...] = tuple(FLIP_PERMUTATION[b + 1] - 1 for b in range(NUM_BONES))

# [H36M] index of each of the 17 joints in the original 32-joint Human3.6M skeleton.
H36M32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
H36M32_PARENTS: tuple[int, ...] = (
    -1,
    0,
    1,
    2,
    3,
    4,
    0,
    6,
    7,
    8,
    9,
    0,
    11,
    12,
    13,
    14,
    12,
    16,
    17,
    18,
    19,
    20,
    19,
    22,
    12,
    24,
    25,
    26,
    27,
    28,
    27,
    30,
)

# The 15 Human3.6M actions (3d-pose-baseline ``define_actions``; VideoPose3D's naming: Photo, WalkDog).
H36M_ACTIONS: tuple[str, ...] = (
    "Directions",
    "Discussion",
    "Eating",
    "Greeting",
    "Phoning",
    "Photo",
    "Posing",
    "Purchases",
    "Sitting",
    "SittingDown",
    "Smoking",
    "Waiting",
    "WalkDog",
    "Walking",
    "WalkTogether",
)

# --- MPI-INF-3DHP -------------------------------------------------------------------------------------------------
# [3DHP] the 17-joint test order (0-based); the root is 14 (pelvis).
MPI3DHP_JOINT_NAMES: tuple[str, ...] = (
    "head_top",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "pelvis",
    "spine",
    "head",
)
MPI3DHP_ROOT = 14
# [3DHP] the 28 joints of the training annotations (annot.mat), 0-based.
MPI3DHP28_JOINT_NAMES: tuple[str, ...] = (
    "spine3",
    "spine4",
    "spine2",
    "spine",
    "pelvis",
    "neck",
    "head",
    "head_top",
    "left_clavicle",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "left_hand",
    "right_clavicle",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "right_hand",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_foot",
    "left_toe",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_foot",
    "right_toe",
)
MPI3DHP28_TO_17: tuple[int, ...] = (7, 5, 14, 15, 16, 9, 10, 11, 23, 24, 25, 18, 19, 20, 4, 3, 6)
# For each 3DHP test joint, the Human3.6M-17 joint it is scored against:
# ``pose_3dhp = pose_h36m[..., H36M_TO_MPI3DHP, :]``.
H36M_TO_MPI3DHP: tuple[int, ...] = (10, 8, 14, 15, 16, 11, 12, 13, 1, 2, 3, 4, 5, 6, 0, 7, 9)
# For each H36M-17 joint, its 3DHP test index: ``pose_h36m = pose_3dhp[..., MPI3DHP_TO_H36M, :]``.
MPI3DHP_TO_H36M: tuple[int, ...] = tuple(H36M_TO_MPI3DHP.index(j) for j in range(NUM_JOINTS))
# Correspondences whose anatomical meaning differs between the two datasets: 3DHP "neck" is the base of the neck,
# H36M "Thorax" sits between the shoulders (close, not equal); 3DHP "head" is the head centre, H36M "Neck/Nose" is
# a point near the nose. Results on these joints compare labels with different definitions.
MPI3DHP_INEXACT_CORRESPONDENCES: dict[str, str] = {"neck": "Thorax", "head": "Neck/Nose"}
# The 14-joint subset some papers score (P-STMO/PoseFormerV2 joint groups): 3DHP indices 0..13 (no pelvis, spine, head).
MPI3DHP_14_SUBSET: tuple[int, ...] = tuple(range(14))

# --- Canonical proportions ----------------------------------------------------------------------------------------
# [S1] length of each joint's bone to its parent, mm (index = joint; 0 for the root). Thorax's entry is the
# spine->thorax bone; the canonical trunk (pelvis->thorax) is the straight spine, TRUNK_MM.
BONE_LENGTHS_MM: tuple[float, ...] = (
    0.0,
    132.95,
    442.89,
    454.21,
    132.95,
    442.89,
    454.21,
    233.48,
    257.08,
    121.13,
    115.00,
    151.03,
    278.88,
    251.73,
    151.03,
    278.88,
    251.73,
)
TRUNK_MM: float = 233.48 + 257.08  # 490.56 mm: pelvis -> spine -> thorax, spine straight.
BONE_LENGTH_RATIOS: tuple[float, ...] = tuple(length / TRUNK_MM for length in BONE_LENGTHS_MM)

# [W] limb widths per bone (mm), in BONES order: hip line, thigh, shin (x2), torso (x2), neck, head, clavicle,
# upper arm, forearm (x2).
LIMB_WIDTHS_MM: tuple[float, ...] = (
    150.0,
    160.0,
    110.0,
    150.0,
    160.0,
    110.0,
    300.0,
    300.0,
    120.0,
    180.0,
    120.0,
    100.0,
    80.0,
    120.0,
    100.0,
    80.0,
)
LIMB_WIDTH_RATIOS: tuple[float, ...] = tuple(w / TRUNK_MM for w in LIMB_WIDTHS_MM)

# --- The paper's canonical rule (Tfk) -----------------------------------------------------------------------------
# Joints placed by the canonical rule rather than predicted: the hips (on the hip line) and the thorax (on +z).
CANONICAL_ROOT_JOINTS: tuple[int, ...] = (1, 4, 8)
# The 13 joints whose unit vector (in vk) places them relative to their parent, in vk order. The spine is
# predicted as a free unit vector from the pelvis; the spine->thorax bone is then a limb map only, its length not
# enforced (kspbench's choice, method notes 1.3.1).
PREDICTED_JOINTS: tuple[int, ...] = (2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16)
VK_DIM = 1 + 3 * len(PREDICTED_JOINTS)  # 40
# Forward kinematics places the predicted joints level by level (the thorax, a canonical root, sits at level 0
# beside the pelvis and hips, so the tree is 4 levels deep): a joint's parent is always on an earlier level.
FK_LEVELS: tuple[tuple[int, ...], ...] = ((2, 5, 7, 9, 11, 14), (3, 6, 10, 12, 15), (13, 16))


def _check() -> None:
    """Internal consistency of the tables above; runs at import, costs microseconds."""
    if len(JOINT_NAMES) != NUM_JOINTS or len(PARENTS) != NUM_JOINTS or len(BONES) != NUM_BONES:
        raise RuntimeError("skeleton tables disagree on the joint count")
    if sorted(FLIP_PERMUTATION) != list(range(NUM_JOINTS)) or VK_DIM != 40:
        raise RuntimeError("skeleton flip permutation or vk size is wrong")
    placed = {ROOT, *CANONICAL_ROOT_JOINTS}
    for level in FK_LEVELS:
        if any(PARENTS[j] not in placed for j in level):
            raise RuntimeError("FK_LEVELS places a joint before its parent")
        placed |= set(level)
    if sorted(placed) != list(range(NUM_JOINTS)) or sorted(sum(FK_LEVELS, ())) != sorted(PREDICTED_JOINTS):
        raise RuntimeError("FK_LEVELS must cover the predicted joints exactly once")


_check()

# numpy views for vectorised indexing (read-only, so no caller can edit the skeleton by accident).
PARENTS_NP = np.array(PARENTS, dtype=np.int64)
FLIP_NP = np.array(FLIP_PERMUTATION, dtype=np.int64)
BONES_NP = np.array(BONES, dtype=np.int64)
for _a in (PARENTS_NP, FLIP_NP, BONES_NP):
    _a.setflags(write=False)
