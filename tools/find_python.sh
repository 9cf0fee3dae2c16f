#!/bin/sh
# Usage: tools/find_python.sh X.Y
# Prints the path of a CPython X.Y that runs, and exits 0; prints nothing and exits 1 when there is none.
# Looks at pythonX.Y on the PATH first (a pyenv shim there may refuse to run until that version is selected,
# so each candidate is run, not just found), then at pyenv's versions folder ($PYENV_ROOT, else ~/.pyenv),
# newest patch release first, then /usr/local/bin and /usr/bin.
want=$1
case "$want" in [0-9]*.[0-9]*) ;; *) echo "usage: $0 X.Y" >&2; exit 2 ;; esac
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
candidates="$(command -v "python$want" 2>/dev/null)
$(ls -d "$pyenv_root"/versions/"$want".*/bin/"python$want" 2>/dev/null | sort -r -V)
/usr/local/bin/python$want
/usr/bin/python$want"
echo "$candidates" | while IFS= read -r candidate; do
  [ -n "$candidate" ] && [ -x "$candidate" ] || continue
  if "$candidate" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$want' else 1)" >/dev/null 2>&1; then
    echo "$candidate"
    exit 3  # found: leaves the subshell with a status the outer shell turns into 0
  fi
done
[ $? -eq 3 ] && exit 0
exit 1
