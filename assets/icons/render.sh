#!/bin/sh
# Renders the app icon's PNGs and the Windows .ico from tentacle-manager.svg. The outputs are
# committed, so building a package never needs these tools; rerun this after editing the SVG.
# Needs rsvg-convert (apt: librsvg2-bin) and ImageMagick's convert (apt: imagemagick).
set -eu
cd "$(dirname "$0")"
for size in 16 32 48 128 256; do
    rsvg-convert -w "$size" -h "$size" tentacle-manager.svg -o "tentacle-manager-$size.png"
done
# One .ico holding every size, for the MSI (shortcut and Add/Remove Programs icon).
convert tentacle-manager-16.png tentacle-manager-32.png tentacle-manager-48.png \
    tentacle-manager-256.png tentacle-manager.ico
