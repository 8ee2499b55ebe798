"""Benchmarks for ivr101: cost per webhook against a bare Flask floor, served load, menu scale.

``python -m bench`` runs them all and prints the figures; ``python -m bench.soak`` is the
soak test. Benchmarks report; they never fail on a number.
"""
