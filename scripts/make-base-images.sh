#!/usr/bin/env bash
# Make the local stand-ins for the public base images that devloop's generated
# Dockerfiles, the samples and the tests use. No registry can be reached here,
# so each image is built from Debian packages: one debootstrap root imported as
# the Debian base, then small Dockerfiles (apt over the Debian mirror) for the
# language images. Idempotent: an image that already exists is kept, and the
# debootstrap tarball is cached, so a second run takes about a second.
#
# The stand-ins carry the host's CA bundle (SSL_CERT_FILE, PIP_CERT,
# NODE_EXTRA_CA_CERTS) because HTTPS from containers is signed by a CA only the
# host trusts. That is a property of this test machine, never of the
# Dockerfiles devloop generates for users.
set -euo pipefail

DOCKER=${DOCKER:-docker}
CACHE=${DEVLOOP_BASE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devloop/base-images}
SUITE=bookworm
mkdir -p "$CACHE"

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

mirror() {
  # The first Debian mirror from the apt sources (deb822 or one-line format).
  local m
  m=$(grep -h -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  if [ -z "$m" ]; then
    m=$(grep -h -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

BASE=devloop-base/debian:$SUITE
if ! have_image "$BASE"; then
  tarball="$CACHE/debian-$SUITE-minbase.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    echo "debootstrap $SUITE from $(mirror) (about 40 s)"
    debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$root" "$(mirror)" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
    # The host's CA bundle, so HTTPS from test containers verifies (see header).
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/host-ca.crt"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . >"$tarball.tmp" && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"; trap - EXIT
  fi
  "$DOCKER" import \
    -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt PIP_CERT=/etc/ssl/certs/host-ca.crt NODE_EXTRA_CA_CERTS=/etc/ssl/certs/host-ca.crt' \
    -c 'CMD ["bash"]' "$tarball" "$BASE" >/dev/null
  echo "made $BASE"
fi

# name | Dockerfile body after FROM [| a file to put beside the Dockerfile]
derive() {
  local name=$1 body=$2 extra=${3:-}
  if have_image "$name"; then echo "kept $name"; return; fi
  build_base "$name" "$body" "$extra" ""
}

# The same, but the image is made again when its recipe (the body and the file) changes.
derive_stamped() {
  local name=$1 body=$2 extra=${3:-} stamp
  stamp=$( { printf '%s' "$body"; if [ -n "$extra" ]; then cat "$extra"; fi; } | sha256sum | cut -c1-16)
  if have_image "$name" \
    && [ "$("$DOCKER" image inspect -f '{{index .Config.Labels "devloop.stamp"}}' "$name")" = "$stamp" ]; then
    echo "kept $name"; return
  fi
  build_base "$name" "$body" "$extra" "$stamp"
}

build_base() {
  local name=$1 body=$2 extra=$3 stamp=$4
  local dir; dir=$(mktemp -d)
  printf 'FROM %s\n%s\n' "$BASE" "$body" >"$dir/Dockerfile"
  if [ -n "$extra" ]; then cp "$extra" "$dir/"; fi
  echo "building $name"
  "$DOCKER" build -q -t "$name" --label devloop.test-base=1 --label "devloop.stamp=$stamp" "$dir" >/dev/null
  rm -rf "$dir"
  echo "made $name"
}

APT='RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends'
CLEAN='&& rm -rf /var/lib/apt/lists/*'

"$DOCKER" tag "$BASE" debian:bookworm-slim
"$DOCKER" tag "$BASE" gcr.io/distroless/static-debian12:nonroot

derive python:3.12-slim "$APT python3 python3-pip python3-venv $CLEAN \\
 && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \\
 && ln -sf /usr/bin/python3 /usr/local/bin/python && ln -sf /usr/bin/pip3 /usr/local/bin/pip
CMD [\"python3\"]"
derive node:22-slim "$APT nodejs npm $CLEAN
CMD [\"node\"]"
derive golang:1.23 "$APT golang-go $CLEAN
ENV GOFLAGS=-mod=mod GOTOOLCHAIN=local"
# A stand-in for the official JRE image, for cf apps whose `path:` is a built jar.
derive eclipse-temurin:17-jre "$APT openjdk-17-jre-headless $CLEAN
CMD [\"java\", \"-version\"]"
derive busybox:1.36 "$APT busybox $CLEAN && ln -s /bin/busybox /bin/httpd
CMD [\"busybox\", \"sh\"]"
# A stand-in for the official redis image: Debian's redis-server, listening on all
# interfaces of the container (its own network namespace), as the official image does.
derive_stamped redis:7 "$APT redis-server $CLEAN && mkdir /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
CMD [\"redis-server\", \"--bind\", \"0.0.0.0\", \"--protected-mode\", \"no\", \"--save\", \"\", \"--appendonly\", \"no\"]"
# A stand-in for the official postgres image: Debian's PostgreSQL behind an entrypoint that
# keeps the official image's contract (POSTGRES_PASSWORD/USER/DB, PGDATA, first-start init).
HERE=$(cd "$(dirname "$0")" && pwd)
derive_stamped postgres:16 "$APT postgresql $CLEAN \\
 && mkdir -p /var/lib/postgresql/data && chown -R postgres:postgres /var/lib/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
ENTRYPOINT [\"sh\", \"/usr/local/bin/docker-entrypoint.sh\"]" "$HERE/base-images/postgres-entrypoint.sh"
# A stand-in for the official mariadb image, the same way (MARIADB_ROOT_PASSWORD/DATABASE/USER).
derive_stamped mariadb:11 "$APT mariadb-server mariadb-client $CLEAN \
 && rm -rf /var/lib/mysql && mkdir -p /var/lib/mysql /run/mysqld && chown -R mysql:mysql /var/lib/mysql /run/mysqld
COPY mariadb-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER mysql
EXPOSE 3306
ENTRYPOINT [\"sh\", \"/usr/local/bin/docker-entrypoint.sh\"]" "$HERE/base-images/mariadb-entrypoint.sh"
echo "base images ready"
