"""The composition root: settings, `create_app`, the CLI and the wiring of stages and channels."""
