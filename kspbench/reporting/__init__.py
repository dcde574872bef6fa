"""Floor 6, reporting (above the world and the model, whose figures it draws): the paper's tables, leaderboards,
figures, the published reference numbers and the files DVC's metrics and plots read."""
