#!/usr/bin/env bash
# The hot wrappers' machine code, with what the layout alone changes taken out (addresses,
# rip-relative displacements, the raw bytes), so that two builds can be diffed
# instruction for instruction: `bash bench/disasm.sh A.so > a; bash bench/disasm.sh B.so > b;
# diff a b`. Functions: the arguments after the library, else the hot set the bench table
# measures (and their .cold parts).
set -u
lib=$1; shift
fns=${*:-"pread64 pread read write fopen fopen64 fopen_as fread fclose stat traceagent_range_push traceagent_range_pop"}
for f in $fns; do
    for s in "$f" "$f.cold"; do
        nm "$lib" | awk -v s="$s" '$3 == s {found=1} END {exit !found}' || continue
        echo "== $s"
        objdump -d --no-show-raw-insn --disassemble="$s" "$lib" |
            sed -n '/^[0-9a-f]* <.*>:$/,$p' | tail -n +2 |
            sed -E 's/^ *[0-9a-f]+:\t//; s/\b[0-9a-f]+ </</g; s/-?0x[0-9a-f]+\(%rip\)/X(%rip)/g;
                    s/# [0-9a-f]+ </# </; s/[[:space:]]+$//' |
            sed -E 's/<([A-Za-z0-9_.]+)\.(lto_priv|constprop|isra|part)\.[0-9]+/<\1/g' | grep -v '^$'
    done
done
