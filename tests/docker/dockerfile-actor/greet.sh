#!/bin/sh
API="$APIFY_API_BASE_URL/v2"
echo "greeting from a Dockerfile build"
wget -qO- --header 'Content-Type: application/json' --post-data '{"greeting": "built from a Dockerfile"}' \
  "$API/datasets/$ACTOR_DEFAULT_DATASET_ID/items?token=$APIFY_TOKEN" > /dev/null
