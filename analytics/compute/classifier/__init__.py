"""The peak classifier: features of a peak's power, the training pipeline on simulated households,
the model artefact with its sidecar, and prediction. Pure: no Django (docs/classifier.md)."""
