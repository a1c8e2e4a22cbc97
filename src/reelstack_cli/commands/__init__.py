"""The CLI's commands, one module per group; each ``register``s its parsers (reelstack_cli.main)."""
