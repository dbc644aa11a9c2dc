#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "method=$REQUEST_METHOD path=$PATH_INFO query=$QUERY_STRING"
# What the requests for / carried, so a test can see the readiness probe.
while read -r line; do echo "root: $line"; done < /tmp/root-requests
echo "run=$ACTOR_RUN_ID"
