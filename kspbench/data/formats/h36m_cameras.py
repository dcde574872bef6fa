"""Published Human3.6M camera parameters, as data, and their conversion to the store's convention.

Source: facebookresearch/VideoPose3D, ``common/h36m_dataset.py`` (commit 1afb1ca, ``h36m_cameras_intrinsic_params``
and ``h36m_cameras_extrinsic_params``): the numbers below are transcribed from there unchanged (they derive from the
Human3.6M release's ``metadata.xml``). Units: pixels for intrinsics, millimetres for translations.

Conventions of the source (VideoPose3D ``common/camera.py`` and ``common/quaternion.py``):
    * ``orientation`` is a unit quaternion ``(w, x, y, z)``, scalar first, rotating camera-frame vectors into the
      world frame (``camera_to_world(X) = qrot(q, X) + c``);
    * ``translation`` is the camera centre ``c`` in world millimetres (``world_to_camera(X) = qrot(q^-1, X - c)``).
The store wants ``X_cam = R X_world + t``, so ``R = R(q)^T`` and ``t = -R(q)^T c`` (:func:`extrinsics`).

Check (tests/formats/test_h36m_cdf.py): the world point (0, 0, 1000) mm seen by S1's camera 54138969 is at
(-320.30331, -435.2653, 5288.6616) mm in that camera's frame.

S2, S3 and S4 have no published extrinsics in the source (empty entries); :func:`extrinsics` raises for them.
"""

from __future__ import annotations

import numpy as np

from kspbench.data.store import Intrinsics

# Camera ids in the order of the source's intrinsics list (VideoPose3D camera index 0..3).
CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")

# id -> focal (fx, fy) px, center (cx, cy) px, radial (k1, k2, k3), tangential (p1, p2), res (width, height) px.
INTRINSICS: dict[str, dict] = {
    "54138969": {
        "focal": [1145.0494384765625, 1143.7811279296875],
        "center": [512.54150390625, 515.4514770507812],
        "radial": [-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043],
        "tangential": [-0.0009756988729350269, -0.00142447161488235],
        "res": (1000, 1002),
    },
    "55011271": {
        "focal": [1149.6756591796875, 1147.5916748046875],
        "center": [508.8486328125, 508.0649108886719],
        "radial": [-0.1942136287689209, 0.2404085397720337, 0.006819975562393665],
        "tangential": [-0.0016190266469493508, -0.0027408944442868233],
        "res": (1000, 1000),
    },
    "58860488": {
        "focal": [1149.1407470703125, 1148.7989501953125],
        "center": [519.8158569335938, 501.40264892578125],
        "radial": [-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427],
        "tangential": [0.0014843869721516967, -0.0007599993259645998],
        "res": (1000, 1000),
    },
    "60457274": {
        "focal": [1145.5113525390625, 1144.77392578125],
        "center": [514.9682006835938, 501.88201904296875],
        "radial": [-0.198384091258049, 0.21832367777824402, -0.008947807364165783],
        "tangential": [-0.0005872055771760643, -0.0018133620033040643],
        "res": (1000, 1002),
    },
}
# subject -> per camera (CAMERA_IDS order): (orientation quaternion (w, x, y, z) camera->world,
#                                           camera centre in world mm).
EXTRINSICS_VP3D: dict[str, tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]] = {
    "S1": (
        (
            (0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
            (1841.1070556640625, 4955.28466796875, 1563.4454345703125),
        ),
        (
            (0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
            (1761.278564453125, -5078.0068359375, 1606.2650146484375),
        ),
        (
            (0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
            (-1846.7777099609375, 5215.04638671875, 1491.972412109375),
        ),
        (
            (0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
            (-1794.7896728515625, -3722.698974609375, 1574.8927001953125),
        ),
    ),
    "S5": (
        (
            (0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
            (2097.3916015625, 4880.94482421875, 1605.732421875),
        ),
        (
            (0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
            (2031.7008056640625, -5167.93310546875, 1612.923095703125),
        ),
        (
            (0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
            (-1620.5948486328125, 5171.65869140625, 1496.43701171875),
        ),
        (
            (0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
            (-1637.1737060546875, -3867.3173828125, 1547.033203125),
        ),
    ),
    "S6": (
        (
            (0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
            (1935.4517822265625, 4950.24560546875, 1618.0838623046875),
        ),
        (
            (0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
            (1969.803955078125, -5128.73876953125, 1632.77880859375),
        ),
        (
            (0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
            (-1769.596435546875, 5185.361328125, 1476.993408203125),
        ),
        (
            (0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
            (-1721.668701171875, -3884.13134765625, 1540.4879150390625),
        ),
    ),
    "S7": (
        (
            (0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
            (1974.512939453125, 4926.3544921875, 1597.8326416015625),
        ),
        (
            (0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
            (1937.0584716796875, -5119.7900390625, 1631.5665283203125),
        ),
        (
            (0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
            (-1741.8111572265625, 5208.24951171875, 1464.8245849609375),
        ),
        (
            (0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
            (-1734.7105712890625, -3832.42138671875, 1548.5830078125),
        ),
    ),
    "S8": (
        (
            (0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
            (2150.65185546875, 4896.1611328125, 1611.9046630859375),
        ),
        (
            (0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
            (2219.965576171875, -5148.453125, 1613.0440673828125),
        ),
        (
            (0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
            (-1571.2215576171875, 5137.0185546875, 1498.1761474609375),
        ),
        (
            (0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
            (-1476.913330078125, -3896.7412109375, 1547.97216796875),
        ),
    ),
    "S9": (
        (
            (0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
            (2044.45849609375, 4935.1171875, 1481.2275390625),
        ),
        (
            (0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
            (1990.959716796875, -5123.810546875, 1568.8048095703125),
        ),
        (
            (0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
            (-1670.9921875, 5211.98583984375, 1528.387939453125),
        ),
        (
            (0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
            (-1696.04345703125, -3827.099853515625, 1591.4127197265625),
        ),
    ),
    "S11": (
        (
            (0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
            (2098.440185546875, 4926.5546875, 1500.278564453125),
        ),
        (
            (0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
            (2083.182373046875, -4912.1728515625, 1561.07861328125),
        ),
        (
            (0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
            (-1609.8153076171875, 5177.3359375, 1537.896728515625),
        ),
        (
            (0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
            (-1590.738037109375, -3854.1689453125, 1578.017578125),
        ),
    ),
}


def intrinsics(camera_id: str) -> Intrinsics:
    """The published intrinsics of one of the four Human3.6M cameras."""
    if camera_id not in INTRINSICS:
        raise KeyError(f"unknown Human3.6M camera {camera_id!r}; the cameras are {', '.join(CAMERA_IDS)}")
    p = INTRINSICS[camera_id]
    return Intrinsics(
        focal=np.array(p["focal"]),
        center=np.array(p["center"]),
        width=int(p["res"][0]),
        height=int(p["res"][1]),
        radial=np.array(p["radial"]),
        tangential=np.array(p["tangential"]),
    )


def has_extrinsics(subject: str) -> bool:
    """True if the source publishes this subject's extrinsics (S1, S5, S6, S7, S8, S9, S11)."""
    return subject in EXTRINSICS_VP3D


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Scalar-first quaternion ``(w, x, y, z)`` (normalised here) -> ``(3, 3)`` rotation matrix ``R(q)``.

    ``R(q) v`` equals VideoPose3D's ``qrot(q, v) = v + 2 (w (u x v) + u x (u x v))`` with ``u = (x, y, z)``.
    """
    w, x, y, z = np.asarray(q, np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def extrinsics(subject: str, camera_id: str) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera ``(R (3, 3), t (3,) mm)`` of one subject's camera, so that ``X_cam = R X_world + t``.

    Raises:
        KeyError: the subject has no published extrinsics, or the camera id is unknown.
    """
    if subject not in EXTRINSICS_VP3D:
        raise KeyError(
            f"no published Human3.6M extrinsics for subject {subject!r} (known: {', '.join(EXTRINSICS_VP3D)})"
        )
    if camera_id not in CAMERA_IDS:
        raise KeyError(f"unknown Human3.6M camera {camera_id!r}; the cameras are {', '.join(CAMERA_IDS)}")
    q, centre = EXTRINSICS_VP3D[subject][CAMERA_IDS.index(camera_id)]
    rot = quaternion_to_matrix(np.array(q)).T
    return rot, -rot @ np.array(centre, np.float64)


# A user's cameras file "agrees" with the table above within these (float32 transcription noise is ~1e-4 of each).
AGREEMENT_TOLERANCE = {
    "focal_px": 1e-3,
    "center_px": 1e-3,
    "distortion": 1e-6,
    "centre_mm": 1e-3,
    "rotation_urad": 0.2,
}  # 0.2 microradian moves a point 5 m away by 1e-3 mm
_UNITS = {
    "focal_px": ("focal", "px"),
    "center_px": ("principal point", "px"),
    "distortion": ("distortion", ""),
    "centre_mm": ("camera centre", "mm"),
    "rotation_urad": ("rotation", "urad"),
}


def differences(
    subject: str, camera_id: str, intr: Intrinsics, rotation: np.ndarray, translation: np.ndarray
) -> dict[str, float]:
    """Largest absolute differences between a camera (store convention, mm) and the published one.

    Returns:
        ``focal_px``, ``center_px``, ``distortion`` (k1..k3, p1, p2), ``centre_mm`` (the camera centre
        ``-R^T t`` in world millimetres) and ``rotation_urad`` (angle of the relative rotation, microradians).

    Raises:
        KeyError: no published camera for that subject and id.
    """
    pub = intrinsics(camera_id)
    rot0, t0 = extrinsics(subject, camera_id)
    rot = np.asarray(rotation, np.float64)
    centre = -rot.T @ np.asarray(translation, np.float64)
    # ||R - R0||_F = 2 sqrt(2) sin(angle / 2): stable for the tiny angles compared here.
    chord = np.linalg.norm(rot - rot0) / (2 * np.sqrt(2))
    return {
        "focal_px": float(np.abs(np.asarray(intr.focal) - pub.focal).max()),
        "center_px": float(np.abs(np.asarray(intr.center) - pub.center).max()),
        "distortion": float(np.abs(np.r_[intr.radial, intr.tangential] - np.r_[pub.radial, pub.tangential]).max()),
        "centre_mm": float(np.abs(centre - (-rot0.T @ t0)).max()),
        "rotation_urad": float(2e6 * np.arcsin(min(1.0, chord))),
    }


def describe_differences(diff: dict[str, float]) -> str:
    """One line: each difference of :func:`differences` and whether all are within :data:`AGREEMENT_TOLERANCE`."""
    parts = [f"{_UNITS[k][0]} {v:.2g}{(' ' + _UNITS[k][1]) if _UNITS[k][1] else ''}" for k, v in diff.items()]
    over = [_UNITS[k][0] for k, v in diff.items() if not v <= AGREEMENT_TOLERANCE[k]]
    verdict = (
        f"DIFFERENT ({', '.join(over)} above the tolerance of 1e-3 px / 1e-3 mm)"
        if over
        else "equal within 1e-3 px / 1e-3 mm"
    )
    return f"largest differences: {', '.join(parts)}: {verdict}"
