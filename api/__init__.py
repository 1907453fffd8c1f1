"""The HTTP face of forecaster: FastAPI routes that parse, call ``forecaster`` and format."""
