"""The team server: a FastAPI app over the same library and services as the CLI (see app.create_app)."""
