"""Built-in cullarrd plugins, registered through the `cullarrd.plugins` entry-point group."""
