#!/bin/sh
# GET / (the readiness probe among them): note whether the probe header came.
echo "probe-header=$HTTP_X_APIFY_CONTAINER_SERVER_READINESS_PROBE" >> /tmp/root-requests
printf 'Content-Type: text/plain\r\n\r\nready\n'
