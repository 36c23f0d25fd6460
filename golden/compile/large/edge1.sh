#!/bin/sh
set -eu
# overlayc desired state of edge1: 34 objects
netns_add() {  # ip netns add, in the caller's mount namespace when ip netns exec gave us our own
  if [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ]; then
    nsenter --mount=/proc/$PPID/ns/mnt ip netns add "$1"
  else
    ip netns add "$1"
  fi
}
ip link add ovb4097 address 0e:24:62:b2:31:6a type bridge
ip link set ovb4097 mtu 1350 group 28534 alias overlayc:shop:monitoring
ip link set ovb4097 up
ip link add ovb4098 address 0e:ad:3f:84:72:6e type bridge
ip link set ovb4098 mtu 8950 group 28534 alias overlayc:shop:front
ip addr replace 10.1.0.1/24 dev ovb4098
ip link set ovb4098 up
ip link add ovb4099 address 0e:26:f1:0e:27:f7 type bridge
ip link set ovb4099 mtu 8950 group 28534 alias overlayc:shop:tools
ip link set ovb4099 up
ip link add ovx4097 address 0e:a9:79:a2:77:c8 type vxlan id 4097 local 172.16.3.1 dstport 4789 nolearning proxy
ip link set ovx4097 mtu 1350 group 28534 alias overlayc:shop:monitoring master ovb4097
ip link set ovx4097 up
ip link add ovx4098 address 0e:d4:8f:e5:9a:fb type vxlan id 4098 local 172.16.3.1 dstport 4789 nolearning proxy
ip link set ovx4098 mtu 8950 group 28534 alias overlayc:shop:front master ovb4098
ip link set ovx4098 up
ip link add ovx4099 address 0e:46:31:2c:4d:02 type vxlan id 4099 local 172.16.3.1 dstport 4789 nolearning proxy
ip link set ovx4099 mtu 8950 group 28534 alias overlayc:shop:tools master ovb4099
ip link set ovx4099 up
netns_add shop-node-exporter.edge1
netns_add shop-proxy.1
netns_add shop-proxy.2
ip link add ovb7b3c65401 address 0e:0f:1a:ad:93:b5 type veth peer name eth0 netns shop-node-exporter.edge1
ip link set ovb7b3c65401 mtu 1350 group 28534 alias overlayc:shop:monitoring:shop-node-exporter.edge1 master ovb4097
ip link set ovb7b3c65401 up
ip -n shop-node-exporter.edge1 link set eth0 mtu 1350 address 02:42:0a:03:00:02
ip -n shop-node-exporter.edge1 addr replace 10.3.0.2/24 dev eth0
ip -n shop-node-exporter.edge1 link set eth0 up
ip link add ov409cb90dd0 address 0e:90:3a:a8:2c:08 type veth peer name eth0 netns shop-proxy.1
ip link set ov409cb90dd0 mtu 8950 group 28534 alias overlayc:shop:front:shop-proxy.1 master ovb4098
ip link set ov409cb90dd0 up
ip -n shop-proxy.1 link set eth0 mtu 8950 address 02:42:0a:01:00:0a
ip -n shop-proxy.1 addr replace 10.1.0.10/24 dev eth0
ip -n shop-proxy.1 link set eth0 up
ip link add ovebebe9b742 address 0e:28:dc:e0:10:cf type veth peer name eth0 netns shop-proxy.2
ip link set ovebebe9b742 mtu 8950 group 28534 alias overlayc:shop:front:shop-proxy.2 master ovb4098
ip link set ovebebe9b742 up
ip -n shop-proxy.2 link set eth0 mtu 8950 address 02:42:0a:01:00:0b
ip -n shop-proxy.2 addr replace 10.1.0.11/24 dev eth0
ip -n shop-proxy.2 link set eth0 up
bridge fdb replace 02:42:0a:03:00:01 dev ovx4097 dst 172.16.2.1 self permanent
bridge fdb replace 02:42:0a:03:00:03 dev ovx4097 dst 172.16.0.1 self permanent
bridge fdb replace 02:42:0a:03:00:04 dev ovx4097 dst 172.16.0.2 self permanent
bridge fdb replace 02:42:0a:03:00:05 dev ovx4097 dst 172.16.1.1 self permanent
bridge fdb replace 02:42:0a:03:00:06 dev ovx4097 dst 172.16.1.2 self permanent
bridge fdb replace 02:42:0a:03:00:c8 dev ovx4097 dst 172.16.0.1 self permanent
bridge fdb replace 02:42:0a:01:00:02 dev ovx4098 dst 172.16.1.1 self permanent
bridge fdb replace 02:42:0a:01:00:03 dev ovx4098 dst 172.16.1.2 self permanent
bridge fdb replace 02:42:0a:01:00:04 dev ovx4098 dst 172.16.1.1 self permanent
bridge fdb replace 02:42:0a:01:00:05 dev ovx4098 dst 172.16.1.2 self permanent
bridge fdb replace 02:42:0a:04:00:01 dev ovx4099 dst 172.16.0.2 self permanent
ip neigh replace 10.3.0.1 lladdr 02:42:0a:03:00:01 dev ovx4097 nud permanent
ip neigh replace 10.3.0.200 lladdr 02:42:0a:03:00:c8 dev ovx4097 nud permanent
ip neigh replace 10.3.0.3 lladdr 02:42:0a:03:00:03 dev ovx4097 nud permanent
ip neigh replace 10.3.0.4 lladdr 02:42:0a:03:00:04 dev ovx4097 nud permanent
ip neigh replace 10.3.0.5 lladdr 02:42:0a:03:00:05 dev ovx4097 nud permanent
ip neigh replace 10.3.0.6 lladdr 02:42:0a:03:00:06 dev ovx4097 nud permanent
ip neigh replace 10.1.0.2 lladdr 02:42:0a:01:00:02 dev ovx4098 nud permanent
ip neigh replace 10.1.0.3 lladdr 02:42:0a:01:00:03 dev ovx4098 nud permanent
ip neigh replace 10.1.0.4 lladdr 02:42:0a:01:00:04 dev ovx4098 nud permanent
ip neigh replace 10.1.0.5 lladdr 02:42:0a:01:00:05 dev ovx4098 nud permanent
ip neigh replace 10.4.0.1 lladdr 02:42:0a:04:00:01 dev ovx4099 nud permanent
