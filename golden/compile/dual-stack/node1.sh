#!/bin/sh
set -eu
# overlayc desired state of node1: 24 objects
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
ip link add ovx4096 address 0e:b2:e6:64:d4:e4 type vxlan id 4096 local 2001:db8::1 dstport 4789 nolearning proxy noudp6zerocsumtx noudp6zerocsumrx
ip link set ovx4096 netns "dual-sb.app.$owner"
ip -n "dual-sb.app.$owner" link set ovx4096 mtu 1430 group 28534 alias overlayc:dual:app master ovb4096
ip -n "dual-sb.app.$owner" link set ovx4096 up
sb_ovx4096="dual-sb.app.$owner"  # where its fdb/neigh entries go
ip link add ovx4098 address 0e:0b:39:d2:87:59 type vxlan id 4098 local 2001:db8::1 dstport 4789 nolearning proxy noudp6zerocsumtx noudp6zerocsumrx
ip link set ovx4098 netns "dual-sb.six.$owner"
ip -n "dual-sb.six.$owner" link set ovx4098 mtu 1430 group 28534 alias overlayc:dual:six master ovb4098
ip -n "dual-sb.six.$owner" link set ovx4098 up
sb_ovx4098="dual-sb.six.$owner"  # where its fdb/neigh entries go
netns_add dual-probe
netns_add dual-web.node1
ip -n "dual-sb.app.$owner" link add ove2753edad4 address 0e:f2:7b:b0:80:99 type veth peer name eth0 netns dual-probe
ip -n "dual-sb.app.$owner" link set ove2753edad4 mtu 1430 group 28534 alias overlayc:dual:app:dual-probe master ovb4096
ip -n "dual-sb.app.$owner" link set ove2753edad4 up
ip -n dual-probe link set eth0 mtu 1430 address 02:42:0a:00:09:05
ip -n dual-probe addr replace 10.0.9.5/24 dev eth0
ip -n dual-probe addr replace fd00:9::100/64 dev eth0 nodad
ip -n dual-probe link set eth0 up
ip -n "dual-sb.app.$owner" link add ov8d8eaa1d5a address 0e:cd:74:25:a7:f0 type veth peer name eth0 netns dual-web.node1
ip -n "dual-sb.app.$owner" link set ov8d8eaa1d5a mtu 1430 group 28534 alias overlayc:dual:app:dual-web.node1 master ovb4096
ip -n "dual-sb.app.$owner" link set ov8d8eaa1d5a up
ip -n dual-web.node1 link set eth0 mtu 1430 address 02:42:0a:00:09:02
ip -n dual-web.node1 addr replace 10.0.9.2/24 dev eth0
ip -n dual-web.node1 addr replace fd00:9::2/64 dev eth0 nodad
ip -n dual-web.node1 link set eth0 up
ip -n "dual-sb.six.$owner" link add ovc75b7354b5 address 0e:2d:c9:8c:0e:e5 type veth peer name eth1 netns dual-web.node1
ip -n "dual-sb.six.$owner" link set ovc75b7354b5 mtu 1430 group 28534 alias overlayc:dual:six:dual-web.node1 master ovb4098
ip -n "dual-sb.six.$owner" link set ovc75b7354b5 up
ip -n dual-web.node1 link set eth1 mtu 1430 address 06:00:00:00:00:01
ip -n dual-web.node1 addr replace fd00:a::1/64 dev eth1 nodad
ip -n dual-web.node1 link set eth1 up
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:00:09:01 dev ovx4096 dst 2001:db8::3 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:00:09:03 dev ovx4096 dst 2001:db8::2 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:00:09:04 dev ovx4096 dst 2001:db8::3 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 06:00:00:00:00:02 dev ovx4098 dst 2001:db8::2 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 06:00:00:00:00:03 dev ovx4098 dst 2001:db8::3 self permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.0.9.1 lladdr 02:42:0a:00:09:01 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.0.9.3 lladdr 02:42:0a:00:09:03 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.0.9.4 lladdr 02:42:0a:00:09:04 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace fd00:9::1 lladdr 02:42:0a:00:09:01 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace fd00:9::3 lladdr 02:42:0a:00:09:03 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace fd00:9::4 lladdr 02:42:0a:00:09:04 dev ovx4096 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace fd00:a::2 lladdr 06:00:00:00:00:02 dev ovx4098 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace fd00:a::3 lladdr 06:00:00:00:00:03 dev ovx4098 nud permanent
