"""Subcommands of the ``worldforge-ros`` CLI: each module has ``add_arguments(parser)`` and ``run(args)``."""
