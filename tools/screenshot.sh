#!/bin/sh
# Regenerate docs/screenshot.png headless: the app over a video, one person enrolled, live labels.
set -e
cd "$(dirname "$0")/.."
exec xvfb-run -a -s "-screen 0 1280x800x24" python tools/screenshot.py "$@"
