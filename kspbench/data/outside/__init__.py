"""Outside models' predictions -> kspbench's predictions interchange format (``kspbench import-predictions``).

One reader per layout, each returning an :class:`Imported` (the :class:`kspbench.data.predictions.Predictions` in
millimetres, Human3.6M-17 order, with what the reader noticed):

* :mod:`kspbench.data.outside.videopose3d` -- an npz holding a pickled dict ``{subject: {action: [one (N, 17, 3) array
  per camera]}}``, read with the restricted unpickler of :mod:`kspbench.data.formats.vp3d_npz` (nothing in it runs);
* :mod:`kspbench.data.outside.mmpose` -- MMPose-style per-image results (a JSON list of records naming the image
  ``S9_Directions_1.54138969_000001.jpg`` and holding its 3D keypoints);
* :mod:`kspbench.data.outside.csv_poses` -- a CSV in a documented long or wide layout.

Shared (:mod:`kspbench.data.outside.common`): units (metres or millimetres, detected from bone lengths or given, and
checked either way), the joint order, sequence names (MMPose's and the release's ``TakingPhoto``/``WalkingDog``
become ``Photo``/``WalkDog``, ``Directions_1`` becomes ``Directions 1``) and the frame stride.
"""

# Constants the command line needs without importing the readers (numpy, h5py): ``kspbench --help`` stays fast.
UNITS = ("auto", "m", "mm")
CSV_LAYOUTS = ("auto", "wide", "long")
VP3D_KEY = "positions_3d"
