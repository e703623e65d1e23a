"""The version of hangar-git: its one home (setup.cfg and the package root read it here)."""
__version__ = "0.1.0"
