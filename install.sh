#!/bin/sh
# Install Fila (fila-server and the fila CLI) for the current user.
#
# Read it, then run it:   sh install.sh [--from SOURCE] [--prefix DIR] [--bin DIR]
#
#   --from SOURCE   what pip installs: a version spec ("fila-broker==0.3.0"), a wheel,
#                   or a source checkout (default: fila-broker from the package index)
#   --prefix DIR    where the virtual environment goes (default ~/.local/share/fila)
#   --bin DIR       where fila-server and fila are linked (default ~/.local/bin)
#
# It creates one virtual environment, installs into it, and links the two commands.
# It needs Python 3.11 or newer; it never downloads and runs another script, never uses
# sudo and touches nothing outside --prefix and the two links in --bin.
# Uninstall: rm -r ~/.local/share/fila ~/.local/bin/fila-server ~/.local/bin/fila
set -eu

source_spec="fila-broker"
prefix="${HOME}/.local/share/fila"
bindir="${HOME}/.local/bin"

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --from) [ $# -ge 2 ] || die "--from needs a value"; source_spec="$2"; shift 2 ;;
        --prefix) [ $# -ge 2 ] || die "--prefix needs a value"; prefix="$2"; shift 2 ;;
        --bin) [ $# -ge 2 ] || die "--bin needs a value"; bindir="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

python="${PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || die "$python not found; install Python 3.11 or newer"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "Python 3.11 or newer is needed ($("$python" -V 2>&1) found)"

# A source checkout given by relative path: make it absolute before pip sees it.
if [ -d "$source_spec" ]; then
    source_spec="$(cd "$source_spec" && pwd)"
fi

echo "Creating the virtual environment in $prefix"
"$python" -m venv "$prefix" || die "could not create a virtual environment in $prefix"
echo "Installing $source_spec"
"$prefix/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
"$prefix/bin/python" -m pip install --quiet "$source_spec" \
    || die "pip could not install $source_spec"

mkdir -p "$bindir"
for cmd in fila-server fila; do
    [ -x "$prefix/bin/$cmd" ] || die "$cmd is missing from $prefix/bin after the install"
    ln -sf "$prefix/bin/$cmd" "$bindir/$cmd"
done

version="$("$bindir/fila-server" --version 2>/dev/null || echo "fila-server")"
echo "Installed $version: $bindir/fila-server and $bindir/fila"
case ":${PATH}:" in
    *":$bindir:"*) ;;
    *) echo "Add $bindir to your PATH to run them by name." ;;
esac
echo "Start the broker with: fila-server   (data goes to ./data; see docs/operations.md)"
