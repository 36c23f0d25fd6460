#!/bin/sh
set -eu
# overlayc desired state of node3: 0 objects
