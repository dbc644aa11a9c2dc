#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "method=$REQUEST_METHOD path=$PATH_INFO query=$QUERY_STRING run=$ACTOR_RUN_ID"
