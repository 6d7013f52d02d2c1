#!/usr/bin/env bash
# Install the climseg Snakemake profiles into your Snakemake config folder, so that
#   snakemake --profile summit
# works from any directory (instead of snakemake --profile profiles/summit from this checkout).
#
# usage: scripts/install-profiles.sh [--dry-run] [--force] [--link] [--dest DIR] [NAME ...]
#   NAME ...    profiles to install (default: all of profiles/*: local summit daint perlmutter frontier alps)
#   --dry-run   print what would be done, change nothing
#   --force     replace profiles that are already installed (otherwise they are left alone)
#   --link      symlink to this checkout instead of copying (profiles follow `git pull`)
#   --dest DIR  install into DIR instead of Snakemake's user config folder
#
# Snakemake looks for `--profile NAME` in the current directory, then in its user config folder
# ($XDG_CONFIG_HOME/snakemake, by default ~/.config/snakemake, on Linux), then in the site folder
# (/etc/xdg/snakemake). The folder is asked from Snakemake itself when it is importable.
# The profiles select config/machines/<machine>.yaml of the workflow you run, wherever it is.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dry_run=0 force=0 link=0 dest="" names=()
while (($#)); do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --force) force=1 ;;
        --link) link=1 ;;
        --dest) dest="${2:?--dest needs a directory}"; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "install-profiles: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) names+=("$1") ;;
    esac
    shift
done

if [[ -z "$dest" ]]; then
    python="${PYTHON:-python3}"
    [[ -x "$repo/.venv/bin/python" && -z "${PYTHON:-}" ]] && python="$repo/.venv/bin/python"
    dest="$("$python" -c 'from snakemake.common import get_appdirs; print(get_appdirs().user_config_dir)' 2>/dev/null \
            || echo "${XDG_CONFIG_HOME:-$HOME/.config}/snakemake")"
fi
if ((${#names[@]} == 0)); then
    for dir in "$repo"/profiles/*/; do names+=("$(basename "$dir")"); done
fi

run() {
    echo "+ $*"
    ((dry_run)) || "$@"
}

installed=0
for name in "${names[@]}"; do
    source="$repo/profiles/$name"
    if [[ ! -f "$source/config.yaml" ]]; then
        echo "install-profiles: $source/config.yaml: no such profile" >&2
        exit 2
    fi
    target="$dest/$name"
    if [[ -e "$target" || -L "$target" ]]; then
        if ((!force)); then
            echo "install-profiles: $target exists, left alone (--force replaces it)"
            continue
        fi
        run rm -rf "$target"
    fi
    run mkdir -p "$dest"
    if ((link)); then
        run ln -s "$source" "$target"
    else
        run cp -R "$source" "$target"
    fi
    installed=$((installed + 1))
done

((dry_run)) && echo "(dry run: nothing changed)"
echo "install-profiles: $installed profile(s) in $dest; e.g. snakemake --profile ${names[0]}"
