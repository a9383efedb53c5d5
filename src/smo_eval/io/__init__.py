"""Reading and writing files: the edge of the package, kept apart from the pure stages."""
