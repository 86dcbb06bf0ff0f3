"""Automatic differentiation: symbolic values and the builder rules emit into (trace), forward and reverse
mode, the expansion of composites.
"""
