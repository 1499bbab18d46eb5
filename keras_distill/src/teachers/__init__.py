"""Teachers: ensembles, plain callables and SavedModels, cached outputs."""
