"""The model layer: clients for OpenAI-compatible endpoints and the embedded default model."""
