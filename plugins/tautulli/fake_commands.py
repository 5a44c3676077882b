"""Command names a real Tautulli v2.17.2 knows (from its "Unknown command" answer), and quotes."""

from __future__ import annotations

# Sorted, exactly as Tautulli lists them in "Possible commands are: ...".
COMMANDS: tuple[str, ...] = tuple(
    """
    add_newsletter_config add_notifier_config arnold backup_config backup_db
    delete_all_library_history delete_all_user_history delete_cache delete_export
    delete_history delete_hosted_images delete_image_cache delete_library delete_login_log
    delete_lookup_info delete_media_info_cache delete_mobile_device delete_newsletter
    delete_newsletter_log delete_notification_log delete_notifier delete_recently_added
    delete_synced_item delete_temp_sessions delete_user docs docs_md download_config
    download_database download_export download_log download_plex_log edit_library edit_user
    export_metadata get_activity get_children_metadata get_collections_table
    get_concurrent_streams_by_stream_type get_date_formats get_export_fields
    get_exports_table get_geoip_lookup get_history get_home_stats get_item_user_stats
    get_item_watch_time_stats get_libraries get_libraries_table get_library
    get_library_media_info get_library_names get_library_user_stats
    get_library_watch_time_stats get_logs get_metadata get_new_rating_keys
    get_newsletter_config get_newsletter_log get_newsletters get_notification_log
    get_notifier_config get_notifier_parameters get_notifiers get_old_rating_keys
    get_playlists_table get_plays_by_date get_plays_by_dayofweek get_plays_by_hourofday
    get_plays_by_source_resolution get_plays_by_stream_resolution get_plays_by_stream_type
    get_plays_by_top_10_platforms get_plays_by_top_10_users get_plays_per_month get_plex_log
    get_pms_update get_recently_added get_server_friendly_name get_server_id
    get_server_identity get_server_info get_server_list get_server_pref get_servers_info
    get_settings get_stream_data get_stream_type_by_top_10_platforms
    get_stream_type_by_top_10_users get_synced_items get_tautulli_info get_user get_user_ips
    get_user_logins get_user_names get_user_player_stats get_user_watch_time_stats get_users
    get_users_table get_whois_lookup import_config import_database logout_user_session
    notify notify_newsletter notify_recently_added pms_image_proxy refresh_libraries_list
    refresh_users_list register_device regroup_history restart search server_status
    set_mobile_device_config set_newsletter_config set_notifier_config sql status
    terminate_session undelete_library undelete_user update update_check
    update_metadata_details
    """.split()  # noqa: SIM905 - one word per name keeps the 125 names readable
)

ARNOLD_QUOTES: tuple[str, ...] = (
    "Stick around!",
    "I'm a cop you idiot!",
    "I'll be back.",
    "Get to the chopper!",
    "Hasta la vista, baby.",
    "It's not a tumor!",
    "Consider that a divorce!",
)
