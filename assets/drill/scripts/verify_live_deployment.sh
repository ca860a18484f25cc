#!/usr/bin/env bash
# Live verification (the drill's copy): GET $DEPLOY_URL/ and check that the
# page carries the auth modal and the PS101 flow. Uses bash's /dev/tcp, so it
# needs neither curl nor wget; plain http:// only.
set -u

url="${DEPLOY_URL:-}"
if [ -z "$url" ]; then
  echo "❌ DEPLOY_URL is not set"
  exit 1
fi
rest="${url#http://}"
if [ "$rest" = "$url" ]; then
  echo "❌ ${url}: this script checks plain http:// URLs only"
  exit 1
fi
hostport="${rest%%/*}"
host="${hostport%%:*}"
port=80
[ "$hostport" != "$host" ] && port="${hostport##*:}"

if ! exec 3<>"/dev/tcp/${host}/${port}"; then
  echo "❌ ${url}: cannot connect to ${host}:${port}"
  exit 1
fi
printf 'GET / HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$hostport" >&3
status_line=""
body=""
in_body=0
while IFS= read -r -t 5 line <&3 || [ -n "$line" ]; do
  if [ -z "$status_line" ]; then
    status_line="${line%$'\r'}"
  elif [ "$in_body" -eq 0 ]; then
    [ "${line%$'\r'}" = "" ] && in_body=1
  else
    body+="${line}"$'\n'
  fi
done
exec 3<&-

fail=0
status="$(printf '%s' "$status_line" | cut -d' ' -f2)"
if [ "$status" = "200" ]; then
  echo "✅ ${url}/ answers 200"
else
  echo "❌ ${url}/ answers '${status_line:-nothing}'"
  fail=1
fi
for marker in authModal PS101State; do
  if [[ "$body" == *"$marker"* ]]; then
    echo "✅ page contains ${marker}"
  else
    echo "❌ page does not contain ${marker}"
    fail=1
  fi
done
build_id="$(printf '%s' "$body" | sed -n 's/.*<!-- *BUILD_ID:\([^ ]*\) *-->.*/\1/p' | head -n 1)"
echo "   BUILD_ID: ${build_id:-none}"
exit "$fail"
