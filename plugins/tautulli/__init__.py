"""Built-in tautulli plugin."""
