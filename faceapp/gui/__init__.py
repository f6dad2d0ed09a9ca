"""The desktop GUI: the only package of faceapp that imports PySide6.

Entry point: :func:`faceapp.gui.app.run_gui`. This ``__init__`` imports nothing, so the Qt-free
parts (``decisions``, ``prefs``) can be imported and tested without Qt.
"""
