#!/usr/bin/env bash
# System packages the test suite needs: Dovecot (tests/common/dovecot.rs runs
# a private IMAP server), PostgreSQL (tests/common/postgres.rs runs a
# throwaway cluster), openssl (the harness makes its certificates),
# dnsmasq (tests/support/dnsmasq.rs answers the reverse-DNS tests),
# Chromium (tests/common/browser.rs opens the HTML report and the dashboard
# headless) and Exim (tests/common/smtp.rs receives the digest mail).
# Idempotent: installs only what is missing. Uses sudo when not root.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

missing=()
dpkg -s dovecot-imapd >/dev/null 2>&1 || missing+=(dovecot-imapd)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[[ -x /usr/sbin/dnsmasq || -x /usr/bin/dnsmasq ]] || missing+=(dnsmasq-base)
dpkg -s chromium >/dev/null 2>&1 || missing+=(chromium)
dpkg -s exim4-daemon-light >/dev/null 2>&1 || missing+=(exim4-daemon-light)

if ((${#missing[@]} == 0)); then
    echo "install-deps: nothing to install ($(dovecot --version))"
    exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo --preserve-env=DEBIAN_FRONTEND)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done ($(dovecot --version))"
