"""The plugin's widgets: each ``dlg_*.py`` / ``dock.py`` loads the ``.ui`` of the same stem."""
