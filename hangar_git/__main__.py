"""`python -m hangar_git ...` runs the `git hangar` command line."""
from hangar_git.cli import main

if __name__ == "__main__":
    main()
