#!/bin/sh
set -eu
# overlayc desired state of mgr1: 57 objects
netns_add() {  # ip netns add, in the caller's mount namespace when ip netns exec gave us our own
  if [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ]; then
    nsenter --mount=/proc/$PPID/ns/mnt ip netns add "$1"
  else
    ip netns add "$1"
  fi
}
owner="ns$(stat -L -c %i /proc/self/ns/net)"  # this namespace's identity: sandbox names
netns_add "shop-sb.back.$owner"
ip -n "shop-sb.back.$owner" link set lo alias "overlayc:shop:-:$owner" up
ip netns exec "shop-sb.back.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "shop-sb.back.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
netns_add "shop-sb.monitoring.$owner"
ip -n "shop-sb.monitoring.$owner" link set lo alias "overlayc:shop:-:$owner" up
ip netns exec "shop-sb.monitoring.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "shop-sb.monitoring.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
netns_add "shop-sb.tools.$owner"
ip -n "shop-sb.tools.$owner" link set lo alias "overlayc:shop:-:$owner" up
ip netns exec "shop-sb.tools.$owner" sysctl -q -w net.ipv4.ip_forward=0
ip netns exec "shop-sb.tools.$owner" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "shop-sb.back.$owner" link add ovb4096 address 0e:78:8b:18:ed:04 type bridge
ip -n "shop-sb.back.$owner" link set ovb4096 mtu 8900 group 28534 alias overlayc:shop:back
ip -n "shop-sb.back.$owner" link set ovb4096 up
ip -n "shop-sb.monitoring.$owner" link add ovb4097 address 0e:24:62:b2:31:6a type bridge
ip -n "shop-sb.monitoring.$owner" link set ovb4097 mtu 1350 group 28534 alias overlayc:shop:monitoring
ip -n "shop-sb.monitoring.$owner" link set ovb4097 up
ip -n "shop-sb.tools.$owner" link add ovb4099 address 0e:26:f1:0e:27:f7 type bridge
ip -n "shop-sb.tools.$owner" link set ovb4099 mtu 8950 group 28534 alias overlayc:shop:tools
ip -n "shop-sb.tools.$owner" link set ovb4099 up
ip link add ovx4096 address 0e:9c:aa:1b:91:9e type vxlan id 4096 local 172.16.0.1 dstport 4800 nolearning proxy
ip link set ovx4096 netns "shop-sb.back.$owner"
ip -n "shop-sb.back.$owner" link set ovx4096 mtu 8900 group 28534 alias overlayc:shop:back master ovb4096
ip -n "shop-sb.back.$owner" link set ovx4096 up
sb_ovx4096="shop-sb.back.$owner"  # where its fdb/neigh entries go
ip link add ovx4097 address 0e:a9:79:a2:77:c8 type vxlan id 4097 local 172.16.0.1 dstport 4789 nolearning proxy
ip link set ovx4097 netns "shop-sb.monitoring.$owner"
ip -n "shop-sb.monitoring.$owner" link set ovx4097 mtu 1350 group 28534 alias overlayc:shop:monitoring master ovb4097
ip -n "shop-sb.monitoring.$owner" link set ovx4097 up
sb_ovx4097="shop-sb.monitoring.$owner"  # where its fdb/neigh entries go
ip link add ovx4099 address 0e:46:31:2c:4d:02 type vxlan id 4099 local 172.16.0.1 dstport 4789 nolearning proxy
ip link set ovx4099 netns "shop-sb.tools.$owner"
ip -n "shop-sb.tools.$owner" link set ovx4099 mtu 8950 group 28534 alias overlayc:shop:tools master ovb4099
ip -n "shop-sb.tools.$owner" link set ovx4099 up
sb_ovx4099="shop-sb.tools.$owner"  # where its fdb/neigh entries go
netns_add shop-node-exporter.mgr1
netns_add shop-prometheus
netns_add shop-scheduler.1
ip -n "shop-sb.monitoring.$owner" link add ov7d10fef972 address 0e:d3:24:fd:10:50 type veth peer name eth0 netns shop-node-exporter.mgr1
ip -n "shop-sb.monitoring.$owner" link set ov7d10fef972 mtu 1350 group 28534 alias overlayc:shop:monitoring:shop-node-exporter.mgr1 master ovb4097
ip -n "shop-sb.monitoring.$owner" link set ov7d10fef972 up
ip netns exec shop-node-exporter.mgr1 sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n shop-node-exporter.mgr1 link set eth0 mtu 1350 address 02:42:0a:03:00:03
ip -n shop-node-exporter.mgr1 addr replace 10.3.0.3/24 dev eth0
ip -n shop-node-exporter.mgr1 link set eth0 up
ip -n "shop-sb.monitoring.$owner" link add ov16365c4022 address 0e:54:ad:67:d8:e3 type veth peer name eth0 netns shop-prometheus
ip -n "shop-sb.monitoring.$owner" link set ov16365c4022 mtu 1350 group 28534 alias overlayc:shop:monitoring:shop-prometheus master ovb4097
ip -n "shop-sb.monitoring.$owner" link set ov16365c4022 up
ip netns exec shop-prometheus sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n shop-prometheus link set eth0 mtu 1350 address 02:42:0a:03:00:c8
ip -n shop-prometheus addr replace 10.3.0.200/24 dev eth0
ip -n shop-prometheus link set eth0 up
ip -n "shop-sb.back.$owner" link add ov1ddf937bc8 address 0e:63:35:9c:11:09 type veth peer name eth0 netns shop-scheduler.1
ip -n "shop-sb.back.$owner" link set ov1ddf937bc8 mtu 8900 group 28534 alias overlayc:shop:back:shop-scheduler.1 master ovb4096
ip -n "shop-sb.back.$owner" link set ov1ddf937bc8 up
ip netns exec shop-scheduler.1 sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n shop-scheduler.1 link set eth0 mtu 8900 address 02:42:0a:02:00:01
ip -n shop-scheduler.1 addr replace 10.2.0.1/24 dev eth0
ip -n shop-scheduler.1 link set eth0 up
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:02:00:02 dev ovx4096 dst 172.16.1.1 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:02:00:03 dev ovx4096 dst 172.16.1.2 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:02:00:04 dev ovx4096 dst 172.16.1.1 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:02:00:05 dev ovx4096 dst 172.16.2.1 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:02:00:06 dev ovx4096 dst 172.16.1.2 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:01 dev ovx4097 dst 172.16.2.1 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:02 dev ovx4097 dst 172.16.3.1 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:04 dev ovx4097 dst 172.16.0.2 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:05 dev ovx4097 dst 172.16.1.1 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:06 dev ovx4097 dst 172.16.1.2 self permanent
bridge ${sb_ovx4099:+-n $sb_ovx4099} fdb replace 02:42:0a:04:00:01 dev ovx4099 dst 172.16.0.2 self permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.2.0.2 lladdr 02:42:0a:02:00:02 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.2.0.3 lladdr 02:42:0a:02:00:03 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.2.0.4 lladdr 02:42:0a:02:00:04 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.2.0.5 lladdr 02:42:0a:02:00:05 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.2.0.6 lladdr 02:42:0a:02:00:06 dev ovx4096 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.1 lladdr 02:42:0a:03:00:01 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.2 lladdr 02:42:0a:03:00:02 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.4 lladdr 02:42:0a:03:00:04 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.5 lladdr 02:42:0a:03:00:05 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.6 lladdr 02:42:0a:03:00:06 dev ovx4097 nud permanent
ip ${sb_ovx4099:+-n $sb_ovx4099} neigh replace 10.4.0.1 lladdr 02:42:0a:04:00:01 dev ovx4099 nud permanent
# SA 172.16.2.1 -> 172.16.0.1 spi 0x0d5cff15 epoch 40909: $OVERLAYC_KEY_ac100001_0d5cff15 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.2.1 dst 172.16.0.1 proto esp spi 0x0d5cff15 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100001_0d5cff15" 128
# SA 172.16.1.1 -> 172.16.0.1 spi 0x2b80a4c4 epoch 40908: $OVERLAYC_KEY_ac100001_2b80a4c4 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.1 dst 172.16.0.1 proto esp spi 0x2b80a4c4 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100001_2b80a4c4" 128
# SA 172.16.2.1 -> 172.16.0.1 spi 0x6087bdd7 epoch 40907: $OVERLAYC_KEY_ac100001_6087bdd7 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.2.1 dst 172.16.0.1 proto esp spi 0x6087bdd7 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100001_6087bdd7" 128
# SA 172.16.1.2 -> 172.16.0.1 spi 0x628ad884 epoch 40908: $OVERLAYC_KEY_ac100001_628ad884 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.2 dst 172.16.0.1 proto esp spi 0x628ad884 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100001_628ad884" 128
# SA 172.16.1.1 -> 172.16.0.1 spi 0xb35ad1e9 epoch 40909: $OVERLAYC_KEY_ac100001_b35ad1e9 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.1 dst 172.16.0.1 proto esp spi 0xb35ad1e9 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100001_b35ad1e9" 128
# SA 172.16.2.1 -> 172.16.0.1 spi 0xc02ed6e8 epoch 40908: $OVERLAYC_KEY_ac100001_c02ed6e8 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.2.1 dst 172.16.0.1 proto esp spi 0xc02ed6e8 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100001_c02ed6e8" 128
# SA 172.16.1.2 -> 172.16.0.1 spi 0xd2304897 epoch 40907: $OVERLAYC_KEY_ac100001_d2304897 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.2 dst 172.16.0.1 proto esp spi 0xd2304897 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100001_d2304897" 128
# SA 172.16.1.1 -> 172.16.0.1 spi 0xe1b8cd03 epoch 40907: $OVERLAYC_KEY_ac100001_e1b8cd03 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.1 dst 172.16.0.1 proto esp spi 0xe1b8cd03 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100001_e1b8cd03" 128
# SA 172.16.1.2 -> 172.16.0.1 spi 0xfc0e16fd epoch 40909: $OVERLAYC_KEY_ac100001_fc0e16fd = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.2 dst 172.16.0.1 proto esp spi 0xfc0e16fd reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100001_fc0e16fd" 128
# SA 172.16.0.1 -> 172.16.1.1 spi 0x76a1c2f8 epoch 40908: $OVERLAYC_KEY_ac100101_76a1c2f8 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.0.1 dst 172.16.1.1 proto esp spi 0x76a1c2f8 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100101_76a1c2f8" 128
# SA 172.16.0.1 -> 172.16.1.2 spi 0x6a23e814 epoch 40908: $OVERLAYC_KEY_ac100102_6a23e814 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.0.1 dst 172.16.1.2 proto esp spi 0x6a23e814 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100102_6a23e814" 128
# SA 172.16.0.1 -> 172.16.2.1 spi 0xf3ee39ac epoch 40908: $OVERLAYC_KEY_ac100201_f3ee39ac = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.0.1 dst 172.16.2.1 proto esp spi 0xf3ee39ac reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100201_f3ee39ac" 128
ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 4800 dir in priority 1076429288 action block
ip xfrm policy add src 172.16.1.1/32 dst 172.16.0.1/32 proto udp dport 4800 dir in priority 1076429280 tmpl src 172.16.1.1 dst 172.16.0.1 proto esp reqid 0x1b60480d mode transport
ip xfrm policy add src 172.16.1.2/32 dst 172.16.0.1/32 proto udp dport 4800 dir in priority 1076429280 tmpl src 172.16.1.2 dst 172.16.0.1 proto esp reqid 0x1b60480d mode transport
ip xfrm policy add src 172.16.2.1/32 dst 172.16.0.1/32 proto udp dport 4800 dir in priority 1076429280 tmpl src 172.16.2.1 dst 172.16.0.1 proto esp reqid 0x1b60480d mode transport
ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 4800 dir out priority 1076429288 action block
ip xfrm policy add src 172.16.0.1/32 dst 172.16.1.1/32 proto udp dport 4800 dir out priority 1076429280 tmpl src 172.16.0.1 dst 172.16.1.1 proto esp reqid 0x1b60480d mode transport
ip xfrm policy add src 172.16.0.1/32 dst 172.16.1.2/32 proto udp dport 4800 dir out priority 1076429280 tmpl src 172.16.0.1 dst 172.16.1.2 proto esp reqid 0x1b60480d mode transport
ip xfrm policy add src 172.16.0.1/32 dst 172.16.2.1/32 proto udp dport 4800 dir out priority 1076429280 tmpl src 172.16.0.1 dst 172.16.2.1 proto esp reqid 0x1b60480d mode transport
