#!/bin/sh
# A Standby container Actor: busybox httpd on ACTOR_WEB_SERVER_PORT, with a
# CGI that echoes the request.
echo "serving on $ACTOR_WEB_SERVER_PORT"
exec httpd -f -p "127.0.0.1:$ACTOR_WEB_SERVER_PORT" -h /www
