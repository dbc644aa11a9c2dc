#!/bin/sh
# A container Actor in plain sh: reads its input and pushes items through the
# wactor API with busybox wget, exactly as the Apify API clients would.
API="$APIFY_API_BASE_URL/v2"
echo "shell actor: run $ACTOR_RUN_ID, memory $ACTOR_MEMORY_MBYTES MB"
echo "events: $ACTOR_EVENTS_WEBSOCKET_URL"
INPUT=$(wget -qO- "$API/key-value-stores/$ACTOR_DEFAULT_KEY_VALUE_STORE_ID/records/$ACTOR_INPUT_KEY?token=$APIFY_TOKEN")
echo "input: $INPUT"
field() { echo "$INPUT" | sed -n "s/.*\"$1\": *\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
MODE=$(field mode)
COUNT=$(field count)
push() {
  wget -qO- --header 'Content-Type: application/json' --post-data "$1" \
    "$API/datasets/$ACTOR_DEFAULT_DATASET_ID/items?token=$APIFY_TOKEN" > /dev/null
}
case "$MODE" in
  sleep) sleep "$(field secs)" ;;
  # Records each start (a reboot or a migration starts the Actor again), then works on.
  starts) push "{\"start\": \"$ACTOR_RUN_ID\"}"; echo "started"; sleep "$(field secs)" ;;
  # A web server on ACTOR_WEB_SERVER_PORT, opened a moment after the start.
  serve)
    mkdir -p /tmp/www
    echo "web server of $ACTOR_RUN_ID at $ACTOR_WEB_SERVER_URL" > /tmp/www/index.html
    sleep 1
    httpd -f -p "127.0.0.1:$ACTOR_WEB_SERVER_PORT" -h /tmp/www &
    echo "serving on port $ACTOR_WEB_SERVER_PORT"
    sleep "$(field secs)" ;;
  # Reads each of the |-separated API paths with the run's token and logs the answer's status, then works on.
  peek)
    PATHS=$(field paths)
    IFS='|'
    for p in $PATHS; do
      status=$(wget -qS -O /dev/null "$API/$p?token=$APIFY_TOKEN" 2>&1 | grep 'HTTP/' | head -n 1 | sed 's/.*HTTP\/[0-9.]* \([0-9]*\).*/\1/')
      echo "peek $p: ${status:-none}"
    done
    unset IFS ;;
  # Prints its secret input field and secret env var (the log masks them) and pushes their digests.
  secret)
    S=$(field password)
    echo "secret input: $S, secret env: $API_KEY"
    digest() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
    push "{\"input\": \"$(digest "$S")\", \"env\": \"$(digest "$API_KEY")\"}" ;;
  fail) echo "failing on purpose" >&2; exit "$(field code)" ;;
  oom) echo "eating memory"; head -c 2000m /dev/zero | tail > /dev/null; echo "survived?" ;;
  forks)
    n=0; i=0
    while [ $i -lt 2000 ]; do
      if sleep 30 2>/dev/null & then n=$((n + 1)); fi
      i=$((i + 1))
    done
    started=$(ls /proc | grep -c '^[0-9]')
    wget -qO- --header 'Content-Type: application/json' --post-data "{\"processes\": $started}" \
      "$API/datasets/$ACTOR_DEFAULT_DATASET_ID/items?token=$APIFY_TOKEN" > /dev/null
    exit 0 ;;
esac
i=1
while [ "$i" -le "${COUNT:-0}" ]; do
  wget -qO- --header 'Content-Type: application/json' --post-data "{\"i\": $i, \"env\": \"$ACTOR_FULL_NAME\"}" \
    "$API/datasets/$ACTOR_DEFAULT_DATASET_ID/items?token=$APIFY_TOKEN" > /dev/null || exit 3
  i=$((i + 1))
done
echo "pushed ${COUNT:-0} items"
