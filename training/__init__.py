"""Training, calibration, evaluation, export and packaging for realcheck's detectors."""
