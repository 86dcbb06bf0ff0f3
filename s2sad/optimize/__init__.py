"""Passes that make derivative code smaller and faster without changing its values: dead code and
common subexpressions, identity seeds followed as diagonals, shapes followed symbolically.
"""
