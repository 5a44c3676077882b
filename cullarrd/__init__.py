"""cullarrd: explainable, guard-railed cleanup of media managed by Sonarr and Radarr."""

__version__ = "0.1.0"
