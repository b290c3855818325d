# Sourced by the scripts in this folder: run from the repository root, with uv on PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v uv >/dev/null 2>&1; then
  echo "uv is needed: see https://docs.astral.sh/uv/getting-started/installation/" >&2
  exit 1
fi
