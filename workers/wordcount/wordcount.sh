#!/bin/sh
# wordcount: lines, words and bytes of each input text file, counted by wc(1).
#
# The exec protocol (docs/tools.md) in a page of POSIX sh:
#   stdin   the request: a ToolRequest as JSON
#   stdout  the result:  {"artifacts": [...]} (a ToolResult as JSON)
#   stderr  "progress <fraction 0..1> <message>" lines; other lines are kept as the log
#   exit    0 = success, 2 = bad input (not retried), anything else = transient (retried)
#   cwd     the out_dir; MSTORE_TOOL and MSTORE_TOOL_VERSION name the tool being run
#
# LIMITATION: POSIX sh has no JSON parser, so this reads the request the way mstore
# writes it: compact JSON in which every input object starts with
#   {"asset":"...","kind":"...","mime":"...","path":"..."
# in exactly that order (ToolInput's field order). Paths must not contain a double
# quote, a backslash or control characters: JSON escapes those and the patterns
# below do not unescape them. A tool with arbitrary paths should use a real JSON
# parser (jq, python, ...).
set -u

req=$(cat)
nl='
'
# one "<asset> <path>" line per input: break the JSON before each input object,
# then keep the lines that start like one ("<asset> <path>": asset ids have no spaces)
list=$(printf '%s\n' "$req" | sed "s/{\"asset\":\"/\\$nl/g" |
    sed -n 's/^\([^"]*\)","kind":"[^"]*","mime":"[^"]*","path":"\([^"]*\)".*$/\1 \2/p')
n=$(printf '%s' "$list" | grep -c .)

if [ "$n" -eq 0 ]; then
    if printf '%s' "$req" | grep -q '"inputs":\[\]'; then
        printf '{"artifacts":[]}\n'
        exit 0
    fi
    echo "wordcount: cannot find the inputs in the request" >&2
    exit 2
fi

i=0
out=''
while IFS= read -r line; do
    [ -n "$line" ] || continue
    asset=${line%% *}
    path=${line#* }
    if [ ! -f "$path" ] || [ ! -r "$path" ]; then
        echo "wordcount: unreadable file: $path" >&2
        exit 2
    fi
    # wc prints lines, words, bytes in that order whatever the option order
    counts=$(wc -l -w -c < "$path") || { echo "wordcount: wc failed on $path" >&2; exit 2; }
    # shellcheck disable=SC2086 # split the three numbers into $1 $2 $3
    set -- $counts
    i=$((i + 1))
    permille=$((i * 1000 / n))  # sh arithmetic is integer: print it as a decimal
    printf 'progress %d.%03d counted %s\n' $((permille / 1000)) $((permille % 1000)) "$path" >&2
    out="$out${out:+,}{\"kind\":\"wordcount\",\"asset\":\"$asset\",\"data\":{\"lines\":$1,\"words\":$2,\"bytes\":$3}}"
done <<EOF
$list
EOF

printf '{"artifacts":[%s]}\n' "$out"
