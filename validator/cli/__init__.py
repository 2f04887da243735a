"""The command line (`model-check`): one module a subcommand; may import every layer below it."""
