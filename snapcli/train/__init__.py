"""SNAP training: objective and data (data.py), regularizers (regularizers.py), loop (loop.py), launch."""
