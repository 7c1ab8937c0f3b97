#!/usr/bin/env bash
# The animated walkthrough at the top of the README: two browser windows side
# by side, Alice's and Bob's, sharing a list and watching each other's changes.
#
#   ./scripts/walkthrough.sh              # run the browser test, then assemble
#   ./scripts/walkthrough.sh --assemble   # assemble the frames of the last run
#
# The frames are the screenshots of the two-person browser test
# (tests/js/sharing-e2e.mjs, run by tests/api/frontend.rs through
# scripts/test.sh): target/e2e-screenshots/sharing/NN-alice.png, NN-bob.png
# and their captions in frames.tsv. Each frame gets window chrome and its
# caption with ImageMagick; gifsicle optimizes the result into
# docs/walkthrough.gif. Alice's window on its own, as the README's still,
# goes to docs/app.png.
#
# Missing tools (imagemagick, gifsicle, fonts-dejavu-core) are installed with
# apt-get when running as root; otherwise the script prints the command.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

frames=target/e2e-screenshots/sharing
out=docs/walkthrough.gif
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
bold=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
# Debian's ImageMagick 6: /usr/bin/convert (not a stand-in earlier on PATH).
im=/usr/bin/convert

missing=()
[ -x "$im" ] || missing+=(imagemagick)
command -v gifsicle >/dev/null || missing+=(gifsicle)
[ -f "$font" ] && [ -f "$bold" ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing: ${missing[*]}. Install with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if [ "${1:-}" != "--assemble" ]; then
  say "running the two-person browser test"
  SKIP_DELIVERY_CHECKS=1 ./scripts/test.sh --test api frontend_e2e_in_chromium_lists_sharing
fi
[ -s "$frames/frames.tsv" ] || { echo "no frames in $frames (run without --assemble)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/todoql-walkthrough.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# window SCREENSHOT TITLE OUT: the screenshot in a window with a title bar,
# a hairline border and a soft shadow.
window() {
  local width
  width="$(identify -format %w "$1")"
  "$im" \( -size "${width}x34" xc:'#e9ebf2' \
      -fill '#ff5f57' -draw 'circle 20,17 26,17' \
      -fill '#febc2e' -draw 'circle 40,17 46,17' \
      -fill '#28c840' -draw 'circle 60,17 66,17' \
      -font "$font" -pointsize 14 -fill '#4b4f66' -gravity center -annotate +0+0 "$2" \) \
    \( -size "${width}x1" xc:'#d5d8e4' \) "$1" +gravity -append \
    -bordercolor '#c9cddd' -border 1 \
    \( +clone -background '#1b1d2a' -shadow 22x12+0+8 \) +swap \
    -background none -layers merge +repage "$3"
}

count="$(grep -c . "$frames/frames.tsv")"
i=0
while IFS=$'\t' read -r nn caption; do
  [ -n "$nn" ] || continue
  i=$((i + 1))
  window "$frames/$nn-alice.png" 'Alice Martin — alice@example.com' "$work/a.png"
  window "$frames/$nn-bob.png" 'Bob Chen — bob@example.com' "$work/b.png"
  w="$(identify -format %w "$work/a.png")"
  h="$(identify -format %h "$work/a.png")"
  gap=20 top=86
  "$im" -size "$((2 * w + gap + 24))x$((h + top + 6))" xc:'#eef0f8' \
    -font "$bold" -pointsize 15 -fill '#4f46e5' -gravity northwest -annotate +36+24 "STEP $i OF $count" \
    -font "$bold" -pointsize 24 -fill '#1b1d2a' -annotate +36+46 "$caption" \
    -font "$font" -pointsize 15 -fill '#636781' -gravity northeast -annotate +36+26 'todoql · shared lists, live' \
    "$work/a.png" -gravity northwest -geometry "+12+$top" -composite \
    "$work/b.png" -geometry "+$((12 + w + gap))+$top" -composite \
    -alpha off "$work/frame-$nn.png"
done < "$frames/frames.tsv"

say "assembling $count frames into $out"
# One palette for all frames (the UI has few colours), 2.8 s a frame, the
# last one longer; frames store only what changed.
"$im" "$work"/frame-*.png -append +dither -colors 128 -unique-colors "$work/palette.png"
args=()
for f in "$work"/frame-*.png; do args+=(-delay 280 "$f"); done
args[${#args[@]}-2]=450
"$im" "${args[@]}" -loop 0 +dither -remap "$work/palette.png" -layers OptimizeTransparency "$work/walkthrough.gif"
gifsicle -O3 --lossy=30 "$work/walkthrough.gif" -o "$out"
cp "$frames/app.png" docs/app.png 2>/dev/null || true
say "$out: $(du -h "$out" | cut -f1)"
