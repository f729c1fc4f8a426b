#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60): `fuzz/run.sh [SECONDS] [TARGET...]`.
#
# Targets: the request parser of each protocol codec (json_request, query_request,
# rest_xml_request), the aws-chunked decoder and the pod archive reader. Each starts from the
# seeds in fuzz/seeds/<target> (the archive reader from tests/golden/*.pod) and keeps what it
# learns in fuzz/corpus/<target>; a crash, a hang (-timeout) or an allocation over
# -rss_limit_mb / -malloc_limit_mb stops it and leaves the input in fuzz/artifacts/<target>.
# Record the hours run and what was found in docs/reliability.md; every crash gets a
# regression test next to the code it broke.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo fuzz builds with sanitizer flags (-Z…) that a stable toolchain accepts only so.
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
cargo fuzz build -O
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    seeds=()
    [ -d "seeds/$t" ] && seeds+=("seeds/$t")
    max_len=4096
    if [ "$t" = pod_archive ]; then
        cp ../tests/golden/*.pod "corpus/$t/"
        max_len=262144
    fi
    echo "== $t: ${seconds}s"
    cargo fuzz run -O "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -max_len="$max_len" -print_final_stats=1
done
