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
netns_add "seed6-sb.insecure.$owner"
ip -n "seed6-sb.insecure.$owner" link set lo alias "overlayc:seed6:-:$owner" up
ip netns exec "seed6-sb.insecure.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "seed6-sb.insecure.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
netns_add "seed6-sb.secure.$owner"
ip -n "seed6-sb.secure.$owner" link set lo alias "overlayc:seed6:-:$owner" up
ip netns exec "seed6-sb.secure.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "seed6-sb.secure.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "seed6-sb.insecure.$owner" link add ovb4096 address 0e:31:a4:1c:57:04 type bridge
ip -n "seed6-sb.insecure.$owner" link set ovb4096 mtu 1430 group 28534 alias overlayc:seed6:insecure
ip -n "seed6-sb.insecure.$owner" link set ovb4096 up
ip -n "seed6-sb.secure.$owner" link add ovb4097 address 0e:5f:e1:97:5f:83 type bridge
ip -n "seed6-sb.secure.$owner" link set ovb4097 mtu 1396 group 28534 alias overlayc:seed6:secure
ip -n "seed6-sb.secure.$owner" link set ovb4097 up
ip link add ovx4096 address 0e:c2:96:5f:33:8a type vxlan id 4096 local 2001:db8::1 dstport 4789 nolearning proxy noudp6zerocsumtx noudp6zerocsumrx
ip link set ovx4096 netns "seed6-sb.insecure.$owner"
ip -n "seed6-sb.insecure.$owner" link set ovx4096 mtu 1430 group 28534 alias overlayc:seed6:insecure master ovb4096
ip -n "seed6-sb.insecure.$owner" link set ovx4096 up
sb_ovx4096="seed6-sb.insecure.$owner"  # where its fdb/neigh entries go
ip link add ovx4097 address 0e:a6:ec:1e:d4:07 type vxlan id 4097 local 2001:db8::1 dstport 4800 nolearning proxy noudp6zerocsumtx noudp6zerocsumrx
ip link set ovx4097 netns "seed6-sb.secure.$owner"
ip -n "seed6-sb.secure.$owner" link set ovx4097 mtu 1396 group 28534 alias overlayc:seed6:secure master ovb4097
ip -n "seed6-sb.secure.$owner" link set ovx4097 up
sb_ovx4097="seed6-sb.secure.$owner"  # where its fdb/neigh entries go
netns_add seed6-probe
ip -n "seed6-sb.insecure.$owner" link add ova9a5090510 address 0e:0e:da:5b:a0:17 type veth peer name eth0 netns seed6-probe
ip -n "seed6-sb.insecure.$owner" link set ova9a5090510 mtu 1430 group 28534 alias overlayc:seed6:insecure:seed6-probe master ovb4096
ip -n "seed6-sb.insecure.$owner" link set ova9a5090510 up
ip netns exec seed6-probe sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n seed6-probe link set eth0 mtu 1430 address 02:42:c6:33:64:02
ip -n seed6-probe addr replace 198.51.100.2/24 dev eth0
ip -n seed6-probe link set eth0 up
ip -n "seed6-sb.secure.$owner" link add ov4bd686ecd5 address 0e:74:5d:02:29:41 type veth peer name eth1 netns seed6-probe
ip -n "seed6-sb.secure.$owner" link set ov4bd686ecd5 mtu 1396 group 28534 alias overlayc:seed6:secure:seed6-probe master ovb4097
ip -n "seed6-sb.secure.$owner" link set ov4bd686ecd5 up
ip netns exec seed6-probe sysctl -q -e -w net.ipv6.conf.eth1.disable_ipv6=1
ip -n seed6-probe link set eth1 mtu 1396 address 02:42:cb:00:71:02
ip -n seed6-probe addr replace 203.0.113.2/24 dev eth1
ip -n seed6-probe link set eth1 up
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:c6:33:64:01 dev ovx4096 dst 2001:db8::2 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:cb:00:71:01 dev ovx4097 dst 2001:db8::2 self permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 198.51.100.1 lladdr 02:42:c6:33:64:01 dev ovx4096 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 203.0.113.1 lladdr 02:42:cb:00:71:01 dev ovx4097 nud permanent
# SA 2001:db8::2 -> 2001:db8::1 spi 0x1e552050 epoch 40908: $OVERLAYC_KEY_20010db8000000000000000000000001_1e552050 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 2001:db8::2 dst 2001:db8::1 proto esp spi 0x1e552050 reqid 0x420bf104 mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_20010db8000000000000000000000001_1e552050" 128
# SA 2001:db8::2 -> 2001:db8::1 spi 0x6a49ac35 epoch 40909: $OVERLAYC_KEY_20010db8000000000000000000000001_6a49ac35 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 2001:db8::2 dst 2001:db8::1 proto esp spi 0x6a49ac35 reqid 0x420bf104 mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_20010db8000000000000000000000001_6a49ac35" 128
# SA 2001:db8::2 -> 2001:db8::1 spi 0x784afb83 epoch 40907: $OVERLAYC_KEY_20010db8000000000000000000000001_784afb83 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 2001:db8::2 dst 2001:db8::1 proto esp spi 0x784afb83 reqid 0x420bf104 mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_20010db8000000000000000000000001_784afb83" 128
# SA 2001:db8::1 -> 2001:db8::2 spi 0xc145b020 epoch 40908: $OVERLAYC_KEY_20010db8000000000000000000000002_c145b020 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 2001:db8::1 dst 2001:db8::2 proto esp spi 0xc145b020 reqid 0x420bf104 mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_20010db8000000000000000000000002_c145b020" 128
ip xfrm policy add src 2001:db8::2/128 dst 2001:db8::1/128 proto udp dport 4800 dir in priority 1110296096 tmpl src 2001:db8::2 dst 2001:db8::1 proto esp reqid 0x420bf104 mode transport
ip xfrm policy add src ::/0 dst ::/0 proto udp dport 4800 dir in priority 1110296104 action block
ip xfrm policy add src 2001:db8::1/128 dst 2001:db8::2/128 proto udp dport 4800 dir out priority 1110296096 tmpl src 2001:db8::1 dst 2001:db8::2 proto esp reqid 0x420bf104 mode transport
ip xfrm policy add src ::/0 dst ::/0 proto udp dport 4800 dir out priority 1110296104 action block
