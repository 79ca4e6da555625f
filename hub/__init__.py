"""City contact hub: composition root, settings, CLI and HTTP."""
