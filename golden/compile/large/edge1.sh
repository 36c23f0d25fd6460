#!/bin/sh
set -eu
# overlayc desired state of edge1: 38 objects
netns_add() {  # ip netns add, in the caller's mount namespace when ip netns exec gave us our own
  if [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ]; then
    nsenter --mount=/proc/$PPID/ns/mnt ip netns add "$1"
  else
    ip netns add "$1"
  fi
}
owner="ns$(stat -L -c %i /proc/self/ns/net)"  # this namespace's identity: sandbox names
netns_add "shop-sb.front.$owner"
ip -n "shop-sb.front.$owner" link set lo alias "overlayc:shop:-:$owner" up
ip netns exec "shop-sb.front.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "shop-sb.front.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
netns_add "shop-sb.monitoring.$owner"
ip -n "shop-sb.monitoring.$owner" link set lo alias "overlayc:shop:-:$owner" up
ip netns exec "shop-sb.monitoring.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "shop-sb.monitoring.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
netns_add "shop-sb.tools.$owner"
ip -n "shop-sb.tools.$owner" link set lo alias "overlayc:shop:-:$owner" up
ip netns exec "shop-sb.tools.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "shop-sb.tools.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "shop-sb.monitoring.$owner" link add ovb4097 address 0e:24:62:b2:31:6a type bridge
ip -n "shop-sb.monitoring.$owner" link set ovb4097 mtu 1350 group 28534 alias overlayc:shop:monitoring
ip -n "shop-sb.monitoring.$owner" link set ovb4097 up
ip -n "shop-sb.front.$owner" link add ovb4098 address 0e:ad:3f:84:72:6e type bridge
ip -n "shop-sb.front.$owner" link set ovb4098 mtu 8950 group 28534 alias overlayc:shop:front
ip -n "shop-sb.front.$owner" link set ovb4098 up
ip -n "shop-sb.tools.$owner" link add ovb4099 address 0e:26:f1:0e:27:f7 type bridge
ip -n "shop-sb.tools.$owner" link set ovb4099 mtu 8950 group 28534 alias overlayc:shop:tools
ip -n "shop-sb.tools.$owner" link set ovb4099 up
ip link add ovx4097 address 0e:a9:79:a2:77:c8 type vxlan id 4097 local 172.16.3.1 dstport 4789 nolearning proxy
ip link set ovx4097 netns "shop-sb.monitoring.$owner"
ip -n "shop-sb.monitoring.$owner" link set ovx4097 mtu 1350 group 28534 alias overlayc:shop:monitoring master ovb4097
ip -n "shop-sb.monitoring.$owner" link set ovx4097 up
sb_ovx4097="shop-sb.monitoring.$owner"  # where its fdb/neigh entries go
ip link add ovx4098 address 0e:d4:8f:e5:9a:fb type vxlan id 4098 local 172.16.3.1 dstport 4789 nolearning proxy
ip link set ovx4098 netns "shop-sb.front.$owner"
ip -n "shop-sb.front.$owner" link set ovx4098 mtu 8950 group 28534 alias overlayc:shop:front master ovb4098
ip -n "shop-sb.front.$owner" link set ovx4098 up
sb_ovx4098="shop-sb.front.$owner"  # where its fdb/neigh entries go
ip link add ovx4099 address 0e:46:31:2c:4d:02 type vxlan id 4099 local 172.16.3.1 dstport 4789 nolearning proxy
ip link set ovx4099 netns "shop-sb.tools.$owner"
ip -n "shop-sb.tools.$owner" link set ovx4099 mtu 8950 group 28534 alias overlayc:shop:tools master ovb4099
ip -n "shop-sb.tools.$owner" link set ovx4099 up
sb_ovx4099="shop-sb.tools.$owner"  # where its fdb/neigh entries go
ip link add ovg4098 address 0e:63:41:4f:44:b5 type veth peer name ovgp4098 address 0e:82:18:97:6a:c3 netns "shop-sb.front.$owner"
ip link set ovg4098 mtu 8950 group 28534 alias overlayc:shop:front
ip -n "shop-sb.front.$owner" link set ovgp4098 mtu 8950 group 28534 alias overlayc:shop:front master ovb4098
ip -n "shop-sb.front.$owner" link set ovgp4098 up
sysctl -q -e -w net.ipv6.conf.ovg4098.disable_ipv6=1
ip addr replace 10.1.0.1/24 dev ovg4098
ip link set ovg4098 up
netns_add shop-node-exporter.edge1
netns_add shop-proxy.1
netns_add shop-proxy.2
ip -n "shop-sb.monitoring.$owner" link add ovb7b3c65401 address 0e:0f:1a:ad:93:b5 type veth peer name eth0 netns shop-node-exporter.edge1
ip -n "shop-sb.monitoring.$owner" link set ovb7b3c65401 mtu 1350 group 28534 alias overlayc:shop:monitoring:shop-node-exporter.edge1 master ovb4097
ip -n "shop-sb.monitoring.$owner" link set ovb7b3c65401 up
ip netns exec shop-node-exporter.edge1 sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n shop-node-exporter.edge1 link set eth0 mtu 1350 address 02:42:0a:03:00:02
ip -n shop-node-exporter.edge1 addr replace 10.3.0.2/24 dev eth0
ip -n shop-node-exporter.edge1 link set eth0 up
ip -n "shop-sb.front.$owner" link add ov409cb90dd0 address 0e:90:3a:a8:2c:08 type veth peer name eth0 netns shop-proxy.1
ip -n "shop-sb.front.$owner" link set ov409cb90dd0 mtu 8950 group 28534 alias overlayc:shop:front:shop-proxy.1 master ovb4098
ip -n "shop-sb.front.$owner" link set ov409cb90dd0 up
ip netns exec shop-proxy.1 sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n shop-proxy.1 link set eth0 mtu 8950 address 02:42:0a:01:00:0a
ip -n shop-proxy.1 addr replace 10.1.0.10/24 dev eth0
ip -n shop-proxy.1 link set eth0 up
ip -n "shop-sb.front.$owner" link add ovebebe9b742 address 0e:28:dc:e0:10:cf type veth peer name eth0 netns shop-proxy.2
ip -n "shop-sb.front.$owner" link set ovebebe9b742 mtu 8950 group 28534 alias overlayc:shop:front:shop-proxy.2 master ovb4098
ip -n "shop-sb.front.$owner" link set ovebebe9b742 up
ip netns exec shop-proxy.2 sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n shop-proxy.2 link set eth0 mtu 8950 address 02:42:0a:01:00:0b
ip -n shop-proxy.2 addr replace 10.1.0.11/24 dev eth0
ip -n shop-proxy.2 link set eth0 up
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:01 dev ovx4097 dst 172.16.2.1 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:03 dev ovx4097 dst 172.16.0.1 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:04 dev ovx4097 dst 172.16.0.2 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:05 dev ovx4097 dst 172.16.1.1 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:06 dev ovx4097 dst 172.16.1.2 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:c8 dev ovx4097 dst 172.16.0.1 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 02:42:0a:01:00:02 dev ovx4098 dst 172.16.1.1 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 02:42:0a:01:00:03 dev ovx4098 dst 172.16.1.2 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 02:42:0a:01:00:04 dev ovx4098 dst 172.16.1.1 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 02:42:0a:01:00:05 dev ovx4098 dst 172.16.1.2 self permanent
bridge ${sb_ovx4099:+-n $sb_ovx4099} fdb replace 02:42:0a:04:00:01 dev ovx4099 dst 172.16.0.2 self permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.1 lladdr 02:42:0a:03:00:01 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.200 lladdr 02:42:0a:03:00:c8 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.3 lladdr 02:42:0a:03:00:03 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.4 lladdr 02:42:0a:03:00:04 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.5 lladdr 02:42:0a:03:00:05 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.6 lladdr 02:42:0a:03:00:06 dev ovx4097 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace 10.1.0.2 lladdr 02:42:0a:01:00:02 dev ovx4098 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace 10.1.0.3 lladdr 02:42:0a:01:00:03 dev ovx4098 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace 10.1.0.4 lladdr 02:42:0a:01:00:04 dev ovx4098 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace 10.1.0.5 lladdr 02:42:0a:01:00:05 dev ovx4098 nud permanent
ip ${sb_ovx4099:+-n $sb_ovx4099} neigh replace 10.4.0.1 lladdr 02:42:0a:04:00:01 dev ovx4099 nud permanent
