"""The KSP model (Kundu et al., AAAI 2020) and its training: networks, data, losses, cards, training, prediction.

Modules: ``profiles`` (sizes, ``profiles.yaml``), ``resnet`` (EP's trunk), ``encoders`` (EP, EA), ``decoder`` (DI),
``ksp`` (the whole model and its ablations), ``transforms`` (flip / in-plane rotation and their inverses),
``data`` (frames, pairs, augmentation), ``losses`` (Lprior, LP, LUNP, supervised variants), ``cards`` (model cards in
``models/``, a frozen ``Card``), ``train`` (the ``Trainer``: set-up and the loop), ``batches`` (a run's data and each
loss's batch), ``steps`` (a loss's terms, its optimiser's step), ``run_folder`` (checkpoints, logs, records),
``distributed`` (data-parallel training), ``fold`` (BatchNorm folding), ``predict`` (the predictions file) and
``diagnose`` (is DI conditioned on the pose: PCI, ``kspbench diagnose``). Heavy imports stay in the submodules so that
``import kspbench.model`` is cheap.
"""
