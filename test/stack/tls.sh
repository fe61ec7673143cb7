# shellcheck shell=bash
# The stack's own certificate authority and certificates, made with openssl into
# <state>/tls/ on the first `up` (test material only: never trust this CA anywhere else).
# Sourced by stack.sh after lib.sh.
#
#   ca.pem                     the stack CA (what a client trusts for verify-ca / verify-full)
#   server.pem, server-key.pem the servers' certificate: SAN IP:127.0.0.1, DNS:localhost.
#                              Every TLS endpoint of the stack serves it.
#   other-host.pem, -key.pem   signed by the same CA for another host name only
#                              (DNS:other-host.sluice.test): a server that a test starts with it
#                              is trusted by the CA but fails hostname verification.
#   client.pem, client-key.pem a client certificate (CN=sluice-test-client, clientAuth), for mTLS
#   untrusted-ca.pem           a second CA that signed nothing the stack serves: the "wrong CA"
#
# The wrong-host case against the stack's own servers needs no second certificate: the
# servers also listen on 127.0.0.2 (PostgreSQL and MariaDB on the same port, Kafka's SASL_SSL
# on its own port), and 127.0.0.2 is not in the certificate, so verify-full fails there while
# require (no verification) succeeds. See README.md, "TLS and SASL".

TLS_DIR="$STATE_DIR/tls"
TLS_CA="$TLS_DIR/ca.pem"
TLS_CERT="$TLS_DIR/server.pem"
TLS_KEY="$TLS_DIR/server-key.pem"
# The address the servers also listen on, which their certificate does not carry.
TLS_WRONG_HOST=127.0.0.2

# tls_sign NAME SUBJECT EXT: a P-256 key and a certificate signed by the stack CA.
tls_sign() {
  local name="$1" subject="$2" ext="$3"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$TLS_DIR/$name-key.pem" -subj "$subject" -out "$TLS_DIR/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$TLS_DIR/$name.ext"
  openssl x509 -req -in "$TLS_DIR/$name.csr" -CA "$TLS_CA" -CAkey "$TLS_DIR/ca-key.pem" -CAcreateserial \
    -days 3650 -sha256 -extfile "$TLS_DIR/$name.ext" -out "$TLS_DIR/$name.pem" 2>/dev/null
  rm -f "$TLS_DIR/$name.csr" "$TLS_DIR/$name.ext"
}

tls_ensure() {
  [ -f "$TLS_DIR/.complete" ] && return 0
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  log "tls: making the stack CA and certificates in $TLS_DIR"
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR"
  (
    umask 022
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -sha256 \
      -keyout "$TLS_DIR/ca-key.pem" -subj "/CN=sluice test stack CA" -out "$TLS_CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    tls_sign server "/CN=127.0.0.1" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment"
    tls_sign other-host "/CN=other-host.sluice.test" \
      "subjectAltName=DNS:other-host.sluice.test
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment"
    tls_sign client "/CN=sluice-test-client" \
      "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -sha256 \
      -keyout "$TLS_DIR/untrusted-ca-key.pem" -subj "/CN=not the sluice test stack CA" -out "$TLS_DIR/untrusted-ca.pem" 2>/dev/null
    # Keys are test material, but a server refuses a key file others can read.
    chmod 0600 "$TLS_DIR"/*-key.pem
  )
  # (set -e does not act inside a subshell whose status is tested: check the result instead.)
  local c
  for c in server other-host client; do
    openssl verify -CAfile "$TLS_CA" "$TLS_DIR/$c.pem" >/dev/null 2>&1 && [ -s "$TLS_DIR/$c-key.pem" ] \
      || die "tls: openssl failed to make $TLS_DIR/$c.pem"
  done
  [ -s "$TLS_DIR/untrusted-ca.pem" ] || die "tls: openssl failed to make $TLS_DIR/untrusted-ca.pem"
  touch "$TLS_DIR/.complete"
}

# tls_copy_for DIR: the server certificate, key and CA in DIR, owned by the stack user
# (PostgreSQL and MariaDB run as that user and PostgreSQL insists on a 0600 key it owns).
tls_copy_for() {
  local dir="$1"
  user_dir "$dir"
  cp -f "$TLS_CA" "$dir/ca.pem"
  cp -f "$TLS_CERT" "$dir/server.pem"
  cp -f "$TLS_KEY" "$dir/server-key.pem"
  chmod 0644 "$dir/ca.pem" "$dir/server.pem"
  chmod 0600 "$dir/server-key.pem"
  if is_root; then chown "$STACK_USER:" "$dir/ca.pem" "$dir/server.pem" "$dir/server-key.pem"; fi
}
