"""Data preprocessor for DetCo inputs."""
