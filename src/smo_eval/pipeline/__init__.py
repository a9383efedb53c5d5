"""How stages run: the registry declares them, the catalog keeps their outputs, the runner
passes results between them in memory and through the catalog."""
