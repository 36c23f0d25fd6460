#!/bin/sh
set -eu
# overlayc desired state of node2: 25 objects
netns_add() {  # ip netns add, in the caller's mount namespace when ip netns exec gave us our own
  if [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ]; then
    nsenter --mount=/proc/$PPID/ns/mnt ip netns add "$1"
  else
    ip netns add "$1"
  fi
}
owner="ns$(stat -L -c %i /proc/self/ns/net)"  # this namespace's identity: sandbox names
netns_add "dual-sb.app.$owner"
ip -n "dual-sb.app.$owner" link set lo alias "overlayc:dual:-:$owner" up
ip netns exec "dual-sb.app.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "dual-sb.app.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
netns_add "dual-sb.six.$owner"
ip -n "dual-sb.six.$owner" link set lo alias "overlayc:dual:-:$owner" up
ip netns exec "dual-sb.six.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "dual-sb.six.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
ip -n "dual-sb.app.$owner" link add ovb4096 address 0e:9d:37:d4:e4:b3 type bridge
ip -n "dual-sb.app.$owner" link set ovb4096 mtu 1430 group 28534 alias overlayc:dual:app
ip -n "dual-sb.app.$owner" link set ovb4096 up
ip -n "dual-sb.six.$owner" link add ovb4098 address 0e:27:d3:3d:77:3f type bridge
ip -n "dual-sb.six.$owner" link set ovb4098 mtu 1430 group 28534 alias overlayc:dual:six
ip -n "dual-sb.six.$owner" link set ovb4098 up
ip link add ovx4096 address 0e:b2:e6:64:d4:e4 type vxlan id 4096 local 2001:db8::2 dstport 4789 nolearning proxy noudp6zerocsumtx noudp6zerocsumrx
ip link set ovx4096 netns "dual-sb.app.$owner"
ip -n "dual-sb.app.$owner" link set ovx4096 mtu 1430 group 28534 alias overlayc:dual:app master ovb4096
ip -n "dual-sb.app.$owner" link set ovx4096 up
sb_ovx4096="dual-sb.app.$owner"  # where its fdb/neigh entries go
ip link add ovx4098 address 0e:0b:39:d2:87:59 type vxlan id 4098 local 2001:db8::2 dstport 4789 nolearning proxy noudp6zerocsumtx noudp6zerocsumrx
ip link set ovx4098 netns "dual-sb.six.$owner"
ip -n "dual-sb.six.$owner" link set ovx4098 mtu 1430 group 28534 alias overlayc:dual:six master ovb4098
ip -n "dual-sb.six.$owner" link set ovx4098 up
sb_ovx4098="dual-sb.six.$owner"  # where its fdb/neigh entries go
netns_add dual-web.node2
ip -n "dual-sb.app.$owner" link add ov04332e7478 address 0e:ec:fb:19:8e:84 type veth peer name eth0 netns dual-web.node2
ip -n "dual-sb.app.$owner" link set ov04332e7478 mtu 1430 group 28534 alias overlayc:dual:app:dual-web.node2 master ovb4096
ip -n "dual-sb.app.$owner" link set ov04332e7478 up
ip -n dual-web.node2 link set eth0 mtu 1430 address 02:42:0a:00:09:03
ip -n dual-web.node2 addr replace 10.0.9.3/24 dev eth0
ip -n dual-web.node2 addr replace fd00:9::3/64 dev eth0 nodad
ip -n dual-web.node2 link set eth0 up
ip -n "dual-sb.six.$owner" link add ov1c2c8e172f address 0e:f0:df:39:66:a0 type veth peer name eth1 netns dual-web.node2
ip -n "dual-sb.six.$owner" link set ov1c2c8e172f mtu 1430 group 28534 alias overlayc:dual:six:dual-web.node2 master ovb4098
ip -n "dual-sb.six.$owner" link set ov1c2c8e172f up
ip -n dual-web.node2 link set eth1 mtu 1430 address 06:00:00:00:00:02
ip -n dual-web.node2 addr replace fd00:a::2/64 dev eth1 nodad
ip -n dual-web.node2 link set eth1 up
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:00:09:01 dev ovx4096 dst 2001:db8::3 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:00:09:02 dev ovx4096 dst 2001:db8::1 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:00:09:04 dev ovx4096 dst 2001:db8::3 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:00:09:05 dev ovx4096 dst 2001:db8::1 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 06:00:00:00:00:01 dev ovx4098 dst 2001:db8::1 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 06:00:00:00:00:03 dev ovx4098 dst 2001:db8::3 self permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.0.9.1 lladdr 02:42:0a:00:09:01 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.0.9.2 lladdr 02:42:0a:00:09:02 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.0.9.4 lladdr 02:42:0a:00:09:04 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.0.9.5 lladdr 02:42:0a:00:09:05 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace fd00:9::1 lladdr 02:42:0a:00:09:01 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace fd00:9::100 lladdr 02:42:0a:00:09:05 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace fd00:9::2 lladdr 02:42:0a:00:09:02 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace fd00:9::4 lladdr 02:42:0a:00:09:04 dev ovx4096 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace fd00:a::1 lladdr 06:00:00:00:00:01 dev ovx4098 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace fd00:a::3 lladdr 06:00:00:00:00:03 dev ovx4098 nud permanent
