#!/bin/sh
set -eu
# overlayc desired state of host-a: 6 objects
netns_add() {  # ip netns add, in the caller's mount namespace when ip netns exec gave us our own
  if [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ]; then
    nsenter --mount=/proc/$PPID/ns/mnt ip netns add "$1"
  else
    ip netns add "$1"
  fi
}
ip link add ovb4200 address 0e:20:b3:a3:59:cc type bridge
ip link set ovb4200 mtu 1450 group 28534 alias overlayc:plain:backend
ip link set ovb4200 up
ip link add ovx4200 address 0e:43:ea:bb:c5:5e type vxlan id 4200 local 10.10.0.11 dstport 4789 nolearning proxy
ip link set ovx4200 mtu 1450 group 28534 alias overlayc:plain:backend master ovb4200
ip link set ovx4200 up
netns_add plain-api.1
ip link add ov733f3ab123 address 0e:f3:1b:a4:f0:44 type veth peer name eth0 netns plain-api.1
ip link set ov733f3ab123 mtu 1450 group 28534 alias overlayc:plain:backend:plain-api.1 master ovb4200
ip link set ov733f3ab123 up
ip -n plain-api.1 link set eth0 mtu 1450 address 02:42:0a:c8:00:01
ip -n plain-api.1 addr replace 10.200.0.1/24 dev eth0
ip -n plain-api.1 link set eth0 up
bridge fdb replace 02:42:0a:c8:00:02 dev ovx4200 dst 10.10.0.12 self permanent
ip neigh replace 10.200.0.2 lladdr 02:42:0a:c8:00:02 dev ovx4200 nud permanent
