"""The pure parts of the predictive engine: features, training, drift, artifacts, customer lifetime (BG/NBD).

Framework-free: numpy, scipy, pandas and scikit-learn only, never Django."""
