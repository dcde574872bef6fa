"""The KSP model (Kundu et al., AAAI 2020) and its training: networks, data, losses, cards, training, prediction.

Modules: ``profiles`` (sizes, ``profiles.yaml``), ``resnet`` (EP's trunk), ``encoders`` (EP, EA), ``decoder`` (DI),
``ksp`` (the whole model and its ablations), ``transforms`` (flip / in-plane rotation and their inverses),
``data`` (frames, pairs, augmentation), ``losses`` (Lprior, LP, LUNP, supervised variants), ``cards`` (model cards in
``models/``), ``train`` (the training loop, checkpoints), ``predict`` (the predictions file) and ``diagnose`` (is DI
conditioned on the pose: PCI, ``kspbench diagnose``). Heavy imports stay in the submodules so that
``import kspbench.model`` is cheap.
"""
