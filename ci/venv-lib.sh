# Sourced by the ci/install-* scripts that keep a tool in its own virtual environment.
# make_venv NAME VENV: removes VENV and makes it again with the python3 first on PATH (pyenv, a
# venv: used as it is), or, on a fresh Debian 12 without one, Debian's python3 after installing
# it and python3-venv with apt-get (as root, or with sudo).

venv_apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "$1: installing ${*:2}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${@:2}" >/dev/null
}

make_venv() {
  local name=$1 venv=$2 py
  py=$(command -v python3 || true)
  if [ -z "$py" ]; then
    venv_apt_install "$name" python3 python3-venv
    py=/usr/bin/python3
  fi
  # Debian's own python3 ships venv without ensurepip (that is python3-venv); a pyenv or venv
  # python3 has both.
  if ! "$py" -c "import venv, ensurepip" 2>/dev/null; then
    if [ "$py" = /usr/bin/python3 ]; then
      venv_apt_install "$name" python3-venv
    fi
    "$py" -c "import venv, ensurepip" 2>/dev/null || {
      echo "$name: $py cannot make a virtual environment (no venv/ensurepip module); install python3-venv or put a python3 that has it first on PATH" >&2
      exit 1
    }
  fi
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  echo "$name: making $venv with $py ($("$py" --version 2>&1))"
  "$py" -m venv "$venv"
}
