"""Values every layer shares: findings, the rule catalogue, options, the report, redaction. Imports nothing else of validator."""
