"""What a deletion action needs to resume after a crash without asking anyone (SPEC §7.3).

- ``deletion_actions.plan_json``: the file exactly as the operator confirmed it (Sonarr/Radarr
  file id, path, size, the series or movie it belongs to) and the side effects that action
  carries (what to unmonitor and tag). Precheck compares the live upstream file with it, so a
  delete is never sent for a file other than the one planned, even after a restart.
- ``deletion_actions.warnings_json``: stages that failed without failing the action (a culled
  tag that could not be added).
"""

STATEMENTS = [
    "ALTER TABLE deletion_actions ADD COLUMN plan_json {json}",
    "ALTER TABLE deletion_actions ADD COLUMN warnings_json {json}",
    "CREATE INDEX deletion_actions_media_file ON deletion_actions(media_file_id)",
]
