#!/usr/bin/env bash
# Renders a `ctrack simulate --report` page in headless Chromium and checks that it drew its
# charts: the page's script must have written "charts-rendered:N" (N >= MIN) into #render-status,
# with no "script-error", and the screenshot must not be blank.
#   scripts/render_report.sh REPORT.html [MIN_CHARTS] [OUT_DIR]
# Exit 0 when the page rendered, 1 when it did not, 77 when chromium is missing (skip).
set -euo pipefail
report=$(readlink -f "$1"); min=${2:-1}; out=${3:-$(mktemp -d)}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "render_report: $CHROMIUM not found" >&2; exit 77; }
mkdir -p "$out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
       --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile"
       --window-size=1280,2400 --virtual-time-budget=5000)
timeout 120 "$CHROMIUM" "${flags[@]}" --dump-dom "file://$report" >"$out/dom.html" 2>"$out/chromium-dom.log" || true
timeout 120 "$CHROMIUM" "${flags[@]}" --screenshot="$out/shot.png" "file://$report" \
  >/dev/null 2>"$out/chromium-shot.log" || true
status=$(grep -o 'id="render-status"[^>]*>[^<]*' "$out/dom.html" | sed 's/.*>//' || true)
echo "render_report: status '$status'"
case "$status" in
  charts-rendered:*) n=${status#charts-rendered:} ;;
  *) echo "render_report: charts not rendered" >&2; exit 1 ;;
esac
[ "$n" -ge "$min" ] || { echo "render_report: only $n charts (want $min)" >&2; exit 1; }
[ -s "$out/shot.png" ] || { echo "render_report: no screenshot" >&2; exit 1; }
# Not blank: count distinct colours and non-white pixels of the PNG (python3 stdlib zlib).
python3 - "$out/shot.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat, w = 8, b'', 0
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
        bpp = {2: 3, 6: 4}[ctype]
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours, ink = set(), 0
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    if y % 4 == 0:
        for x in range(0, w, 4):
            px = bytes(line[x * bpp:x * bpp + 3])
            colours.add(px)
            if px != b'\xff\xff\xff': ink += 1
print(f'render_report: {w}x{h}, {len(colours)} colours, {ink} inked samples')
sys.exit(0 if len(colours) >= 8 and ink >= 500 else 1)
PY
