"""``faceapp SUBCOMMAND ...``: enroll, verify, identify, import, people, reencode, evaluate, train, gui.

The entry point resolves one :class:`~faceapp.app.AppConfig` from the command line and passes
plain values down. Heavy pieces load lazily: the encoder (torch) only for subcommands that
embed faces, so ``faceapp people list`` stays instant, and PySide6 only for ``gui``.

Exit codes: 0 success (verify: accepted), 1 verify rejected (or a declined confirmation),
2 any error (one line ``faceapp: error: ...`` on stderr), 130 interrupted. A failed command
leaves the database as it was: everything is checked before the one write transaction.
"""

from .main import COMMANDS, main

__all__ = ["COMMANDS", "main"]
