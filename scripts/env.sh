# Sourced by Ferry's scripts: puts the Swift toolchain first on PATH. Debian's
# python3-swiftclient (pulled in by python3-glance/cinder) installs an OpenStack
# `swift` command that would otherwise shadow the toolchain's.
if command -v swiftc >/dev/null 2>&1; then
  PATH="$(dirname "$(command -v swiftc)"):$PATH"
  export PATH
fi
