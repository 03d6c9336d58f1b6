"""The ``pyquic`` command and its sub-commands: ``server``, ``client`` and ``demo``."""
