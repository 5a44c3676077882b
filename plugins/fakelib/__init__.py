"""Simulated Sonarr/Radarr/Plex library shared by the fakes: model, generator, faults, runner."""
