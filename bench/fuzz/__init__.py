"""Coverage-guided fuzzing (atheris) of the sensor wire protocol and endpoints; see run.py."""
