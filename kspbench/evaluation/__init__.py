"""Floor 3, evaluation: the metrics, the protocol definitions, the evaluator (predictions + store -> scores) and the
result JSON files."""
