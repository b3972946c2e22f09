#!/usr/bin/env bash
# Build the stack with `sam build`, then ship compiled bytecode.
#
#   scripts/sam_build.sh [ARCH] [BUILD_DIR]    ARCH: arm64 (what template.yaml deploys) or x86_64
#
# arm64 builds the deployable artifact from template.yaml itself. Any other ARCH builds the same template
# with its architecture swapped (written to .aws-sam/template-ARCH/), so a machine of that architecture can
# import the built native wheels: that is how the tests prove the artifact is complete on an x86_64 host.
#
# Bytecode: `sam build` ships sources only, and Lambda's code directories are read-only, so without .pyc
# files every cold start compiles every module again (~0.7 s here). `sam package` zips files with a fixed
# 1980 timestamp, so timestamp-checked .pyc files would look stale: we compile with
# --invalidation-mode unchecked-hash, which Python loads without looking at the source at all.
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${1:-arm64}"
build_dir="${2:-.aws-sam/build}"
sam="${SAM:-.venv-sam/bin/sam}"
python313="$(scripts/python313.sh)"
export PATH="$(dirname "$python313"):$PATH"
export SAM_CLI_TELEMETRY=0

mkdir -p .aws-sam
template=template.yaml
if [ "$arch" != arm64 ]; then
    variant_dir=".aws-sam/template-$arch"
    mkdir -p "$variant_dir"
    template="$variant_dir/template.yaml"
    sed -e "s/\barm64\b/$arch/g" \
        -e 's#CodeUri: handlers/#CodeUri: ../../handlers/#' \
        -e 's#ContentUri: shared/#ContentUri: ../../shared/#' template.yaml > "$template"
fi

"$sam" build --template-file "$template" --build-dir "$build_dir" \
    --cached --cache-dir ".aws-sam/cache-$arch" --parallel >".aws-sam/build-$arch.log" 2>&1 \
    || { cat ".aws-sam/build-$arch.log" >&2; exit 1; }

code_dirs=()
for dir in "$build_dir"/*/; do
    if [ -d "$dir/python" ]; then code_dirs+=("$dir/python"); else code_dirs+=("$dir"); fi
done
"$python313" -m compileall -q -j 0 --invalidation-mode unchecked-hash "${code_dirs[@]}" >/dev/null
echo "built $arch into $build_dir (bytecode for python3.13, unchecked-hash)"
