"""The `git hangar` command line (the only layer that imports click).

``main.py`` holds the root group, error handling and the list of command
modules; each sibling module holds one group of commands.
"""
