"""Names that record formats and the protocol state, in a module that imports nothing: a
process that only answers ``list_refs`` (``git hangar serve``) can check them without
loading the storage layer."""

DIGEST_ALGORITHM = "blake3"
"""How samples are named: the BLAKE3 digest of their meta and bytes (see ``storage.objects``).
Stated in every commit's ``hangar.json`` and in both ends' ``hello``."""
