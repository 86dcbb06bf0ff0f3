"""The front end: a user function's source to the A-normal-form IR.

parse      source -> checked tree, names resolved
desugar    Python sugar (augmented assignments, comprehensions ...) as plain statements
normalize  tree -> A-normal form IR, helpers inlined
aggregates tuples carried as their elements
"""
