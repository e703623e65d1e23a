"""Repository core: what one repository is made of beyond its git records (where its
data store is, with which settings, and how the repository is registered in it)."""
