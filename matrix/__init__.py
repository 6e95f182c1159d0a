"""The checkpoint matrix: manifest, checkpoint builds, nox session bodies, report."""
