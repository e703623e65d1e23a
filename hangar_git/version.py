"""The version of hangar-git: its one home (setup.cfg and ``hangar_git.__version__`` read it)."""

__version__ = "0.1.0"
