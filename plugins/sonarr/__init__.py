"""Built-in sonarr plugin."""
