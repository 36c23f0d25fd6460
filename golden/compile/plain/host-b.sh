#!/bin/sh
set -eu
# overlayc desired state of host-b: 7 objects
netns_add() {  # ip netns add, in the caller's mount namespace when ip netns exec gave us our own
  if [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ]; then
    nsenter --mount=/proc/$PPID/ns/mnt ip netns add "$1"
  else
    ip netns add "$1"
  fi
}
owner="ns$(stat -L -c %i /proc/self/ns/net)"  # this namespace's identity: sandbox names
netns_add "plain-sb.backend.$owner"
ip -n "plain-sb.backend.$owner" link set lo alias "overlayc:plain:-:$owner" up
ip netns exec "plain-sb.backend.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "plain-sb.backend.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "plain-sb.backend.$owner" link add ovb4200 address 0e:20:b3:a3:59:cc type bridge
ip -n "plain-sb.backend.$owner" link set ovb4200 mtu 1450 group 28534 alias overlayc:plain:backend
ip -n "plain-sb.backend.$owner" link set ovb4200 up
ip link add ovx4200 address 0e:43:ea:bb:c5:5e type vxlan id 4200 local 10.10.0.12 dstport 4789 nolearning proxy
ip link set ovx4200 netns "plain-sb.backend.$owner"
ip -n "plain-sb.backend.$owner" link set ovx4200 mtu 1450 group 28534 alias overlayc:plain:backend master ovb4200
ip -n "plain-sb.backend.$owner" link set ovx4200 up
sb_ovx4200="plain-sb.backend.$owner"  # where its fdb/neigh entries go
netns_add plain-api.2
ip -n "plain-sb.backend.$owner" link add ovfd76abd390 address 0e:c5:00:b5:e0:c6 type veth peer name eth0 netns plain-api.2
ip -n "plain-sb.backend.$owner" link set ovfd76abd390 mtu 1450 group 28534 alias overlayc:plain:backend:plain-api.2 master ovb4200
ip -n "plain-sb.backend.$owner" link set ovfd76abd390 up
ip netns exec plain-api.2 sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n plain-api.2 link set eth0 mtu 1450 address 02:42:0a:c8:00:02
ip -n plain-api.2 addr replace 10.200.0.2/24 dev eth0
ip -n plain-api.2 link set eth0 up
bridge ${sb_ovx4200:+-n $sb_ovx4200} fdb replace 02:42:0a:c8:00:01 dev ovx4200 dst 10.10.0.11 self permanent
ip ${sb_ovx4200:+-n $sb_ovx4200} neigh replace 10.200.0.1 lladdr 02:42:0a:c8:00:01 dev ovx4200 nud permanent
