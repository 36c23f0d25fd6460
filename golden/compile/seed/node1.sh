#!/bin/sh
set -eu
# overlayc desired state of node1: 21 objects
netns_add() {  # ip netns add, in the caller's mount namespace when ip netns exec gave us our own
  if [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ]; then
    nsenter --mount=/proc/$PPID/ns/mnt ip netns add "$1"
  else
    ip netns add "$1"
  fi
}
owner="ns$(stat -L -c %i /proc/self/ns/net)"  # this namespace's identity: sandbox names
netns_add "seed-sb.insecure.$owner"
ip -n "seed-sb.insecure.$owner" link set lo alias "overlayc:seed:-:$owner" up
ip netns exec "seed-sb.insecure.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "seed-sb.insecure.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
netns_add "seed-sb.secure.$owner"
ip -n "seed-sb.secure.$owner" link set lo alias "overlayc:seed:-:$owner" up
ip netns exec "seed-sb.secure.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "seed-sb.secure.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "seed-sb.insecure.$owner" link add ovb4096 address 0e:92:7f:8a:ea:50 type bridge
ip -n "seed-sb.insecure.$owner" link set ovb4096 mtu 1450 group 28534 alias overlayc:seed:insecure
ip -n "seed-sb.insecure.$owner" link set ovb4096 up
ip -n "seed-sb.secure.$owner" link add ovb4097 address 0e:ef:f1:3e:1c:55 type bridge
ip -n "seed-sb.secure.$owner" link set ovb4097 mtu 1416 group 28534 alias overlayc:seed:secure
ip -n "seed-sb.secure.$owner" link set ovb4097 up
ip link add ovx4096 address 0e:8d:7c:45:86:32 type vxlan id 4096 local 192.0.2.1 dstport 4789 nolearning proxy
ip link set ovx4096 netns "seed-sb.insecure.$owner"
ip -n "seed-sb.insecure.$owner" link set ovx4096 mtu 1450 group 28534 alias overlayc:seed:insecure master ovb4096
ip -n "seed-sb.insecure.$owner" link set ovx4096 up
sb_ovx4096="seed-sb.insecure.$owner"  # where its fdb/neigh entries go
ip link add ovx4097 address 0e:28:e3:fe:e0:6c type vxlan id 4097 local 192.0.2.1 dstport 4800 nolearning proxy
ip link set ovx4097 netns "seed-sb.secure.$owner"
ip -n "seed-sb.secure.$owner" link set ovx4097 mtu 1416 group 28534 alias overlayc:seed:secure master ovb4097
ip -n "seed-sb.secure.$owner" link set ovx4097 up
sb_ovx4097="seed-sb.secure.$owner"  # where its fdb/neigh entries go
netns_add seed-probe
ip -n "seed-sb.insecure.$owner" link add ovddf5e5a7d4 address 0e:c1:f2:43:95:95 type veth peer name eth0 netns seed-probe
ip -n "seed-sb.insecure.$owner" link set ovddf5e5a7d4 mtu 1450 group 28534 alias overlayc:seed:insecure:seed-probe master ovb4096
ip -n "seed-sb.insecure.$owner" link set ovddf5e5a7d4 up
ip netns exec seed-probe sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n seed-probe link set eth0 mtu 1450 address 02:42:c6:33:64:02
ip -n seed-probe addr replace 198.51.100.2/24 dev eth0
ip -n seed-probe link set eth0 up
ip -n "seed-sb.secure.$owner" link add ove5439befba address 0e:3f:cf:e5:22:e2 type veth peer name eth1 netns seed-probe
ip -n "seed-sb.secure.$owner" link set ove5439befba mtu 1416 group 28534 alias overlayc:seed:secure:seed-probe master ovb4097
ip -n "seed-sb.secure.$owner" link set ove5439befba up
ip netns exec seed-probe sysctl -q -e -w net.ipv6.conf.eth1.disable_ipv6=1
ip -n seed-probe link set eth1 mtu 1416 address 02:42:cb:00:71:02
ip -n seed-probe addr replace 203.0.113.2/24 dev eth1
ip -n seed-probe link set eth1 up
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:c6:33:64:01 dev ovx4096 dst 192.0.2.2 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:cb:00:71:01 dev ovx4097 dst 192.0.2.2 self permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 198.51.100.1 lladdr 02:42:c6:33:64:01 dev ovx4096 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 203.0.113.1 lladdr 02:42:cb:00:71:01 dev ovx4097 nud permanent
# SA 192.0.2.2 -> 192.0.2.1 spi 0x0b963448 epoch 40908: $OVERLAYC_KEY_c0000201_0b963448 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x0b963448 reqid 0xbc66a7c2 mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_c0000201_0b963448" 128
# SA 192.0.2.2 -> 192.0.2.1 spi 0x82622881 epoch 40909: $OVERLAYC_KEY_c0000201_82622881 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x82622881 reqid 0xbc66a7c2 mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_c0000201_82622881" 128
# SA 192.0.2.2 -> 192.0.2.1 spi 0xa5846257 epoch 40907: $OVERLAYC_KEY_c0000201_a5846257 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0xa5846257 reqid 0xbc66a7c2 mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_c0000201_a5846257" 128
# SA 192.0.2.1 -> 192.0.2.2 spi 0x80e3a360 epoch 40908: $OVERLAYC_KEY_c0000202_80e3a360 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x80e3a360 reqid 0xbc66a7c2 mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_c0000202_80e3a360" 128
ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 4800 dir in priority 1325192520 action block
ip xfrm policy add src 192.0.2.2/32 dst 192.0.2.1/32 proto udp dport 4800 dir in priority 1325192512 tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid 0xbc66a7c2 mode transport
ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 4800 dir out priority 1325192520 action block
ip xfrm policy add src 192.0.2.1/32 dst 192.0.2.2/32 proto udp dport 4800 dir out priority 1325192512 tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 0xbc66a7c2 mode transport
