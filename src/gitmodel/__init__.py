"""git-model: Git-native versioning of model weights (pointers in Git, chunks in a deduplicating cache)."""

__version__ = "0.1.0"
