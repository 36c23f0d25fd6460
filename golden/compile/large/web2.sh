#!/bin/sh
set -eu
# overlayc desired state of web2: 71 objects
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
ip -n "shop-sb.back.$owner" link add ovb4096 address 0e:78:8b:18:ed:04 type bridge
ip -n "shop-sb.back.$owner" link set ovb4096 mtu 8900 group 28534 alias overlayc:shop:back
ip -n "shop-sb.back.$owner" link set ovb4096 up
ip -n "shop-sb.monitoring.$owner" link add ovb4097 address 0e:24:62:b2:31:6a type bridge
ip -n "shop-sb.monitoring.$owner" link set ovb4097 mtu 1350 group 28534 alias overlayc:shop:monitoring
ip -n "shop-sb.monitoring.$owner" link set ovb4097 up
ip -n "shop-sb.front.$owner" link add ovb4098 address 0e:ad:3f:84:72:6e type bridge
ip -n "shop-sb.front.$owner" link set ovb4098 mtu 8950 group 28534 alias overlayc:shop:front
ip -n "shop-sb.front.$owner" link set ovb4098 up
ip -n "shop-sb.tools.$owner" link add ovb4099 address 0e:26:f1:0e:27:f7 type bridge
ip -n "shop-sb.tools.$owner" link set ovb4099 mtu 8950 group 28534 alias overlayc:shop:tools
ip -n "shop-sb.tools.$owner" link set ovb4099 up
ip link add ovx4096 address 0e:9c:aa:1b:91:9e type vxlan id 4096 local 172.16.1.2 dstport 4800 nolearning proxy
ip link set ovx4096 netns "shop-sb.back.$owner"
ip -n "shop-sb.back.$owner" link set ovx4096 mtu 8900 group 28534 alias overlayc:shop:back master ovb4096
ip -n "shop-sb.back.$owner" link set ovx4096 up
sb_ovx4096="shop-sb.back.$owner"  # where its fdb/neigh entries go
ip link add ovx4097 address 0e:a9:79:a2:77:c8 type vxlan id 4097 local 172.16.1.2 dstport 4789 nolearning proxy
ip link set ovx4097 netns "shop-sb.monitoring.$owner"
ip -n "shop-sb.monitoring.$owner" link set ovx4097 mtu 1350 group 28534 alias overlayc:shop:monitoring master ovb4097
ip -n "shop-sb.monitoring.$owner" link set ovx4097 up
sb_ovx4097="shop-sb.monitoring.$owner"  # where its fdb/neigh entries go
ip link add ovx4098 address 0e:d4:8f:e5:9a:fb type vxlan id 4098 local 172.16.1.2 dstport 4789 nolearning proxy
ip link set ovx4098 netns "shop-sb.front.$owner"
ip -n "shop-sb.front.$owner" link set ovx4098 mtu 8950 group 28534 alias overlayc:shop:front master ovb4098
ip -n "shop-sb.front.$owner" link set ovx4098 up
sb_ovx4098="shop-sb.front.$owner"  # where its fdb/neigh entries go
ip link add ovx4099 address 0e:46:31:2c:4d:02 type vxlan id 4099 local 172.16.1.2 dstport 4789 nolearning proxy
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
netns_add shop-node-exporter.web2
netns_add shop-web.2
netns_add shop-web.4
ip -n "shop-sb.monitoring.$owner" link add ovc4b36d89ad address 0e:21:19:dd:73:04 type veth peer name eth0 netns shop-node-exporter.web2
ip -n "shop-sb.monitoring.$owner" link set ovc4b36d89ad mtu 1350 group 28534 alias overlayc:shop:monitoring:shop-node-exporter.web2 master ovb4097
ip -n "shop-sb.monitoring.$owner" link set ovc4b36d89ad up
ip netns exec shop-node-exporter.web2 sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n shop-node-exporter.web2 link set eth0 mtu 1350 address 02:42:0a:03:00:06
ip -n shop-node-exporter.web2 addr replace 10.3.0.6/24 dev eth0
ip -n shop-node-exporter.web2 link set eth0 up
ip -n "shop-sb.back.$owner" link add ov382ae5238d address 0e:a3:85:e2:1b:e2 type veth peer name eth0 netns shop-web.2
ip -n "shop-sb.back.$owner" link set ov382ae5238d mtu 8900 group 28534 alias overlayc:shop:back:shop-web.2 master ovb4096
ip -n "shop-sb.back.$owner" link set ov382ae5238d up
ip netns exec shop-web.2 sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n shop-web.2 link set eth0 mtu 8900 address 02:42:0a:02:00:03
ip -n shop-web.2 addr replace 10.2.0.3/24 dev eth0
ip -n shop-web.2 link set eth0 up
ip -n "shop-sb.front.$owner" link add ov9d92b3178d address 0e:0a:36:b1:f0:99 type veth peer name eth1 netns shop-web.2
ip -n "shop-sb.front.$owner" link set ov9d92b3178d mtu 8950 group 28534 alias overlayc:shop:front:shop-web.2 master ovb4098
ip -n "shop-sb.front.$owner" link set ov9d92b3178d up
ip netns exec shop-web.2 sysctl -q -e -w net.ipv6.conf.eth1.disable_ipv6=1
ip -n shop-web.2 link set eth1 mtu 8950 address 02:42:0a:01:00:03
ip -n shop-web.2 addr replace 10.1.0.3/24 dev eth1
ip -n shop-web.2 link set eth1 up
ip -n "shop-sb.back.$owner" link add ov2feaac71cc address 0e:45:b2:ec:4a:88 type veth peer name eth0 netns shop-web.4
ip -n "shop-sb.back.$owner" link set ov2feaac71cc mtu 8900 group 28534 alias overlayc:shop:back:shop-web.4 master ovb4096
ip -n "shop-sb.back.$owner" link set ov2feaac71cc up
ip netns exec shop-web.4 sysctl -q -e -w net.ipv6.conf.eth0.disable_ipv6=1
ip -n shop-web.4 link set eth0 mtu 8900 address 02:42:0a:02:00:06
ip -n shop-web.4 addr replace 10.2.0.6/24 dev eth0
ip -n shop-web.4 link set eth0 up
ip -n "shop-sb.front.$owner" link add ovf70ffe4994 address 0e:01:0d:f7:68:5b type veth peer name eth1 netns shop-web.4
ip -n "shop-sb.front.$owner" link set ovf70ffe4994 mtu 8950 group 28534 alias overlayc:shop:front:shop-web.4 master ovb4098
ip -n "shop-sb.front.$owner" link set ovf70ffe4994 up
ip netns exec shop-web.4 sysctl -q -e -w net.ipv6.conf.eth1.disable_ipv6=1
ip -n shop-web.4 link set eth1 mtu 8950 address 02:42:0a:01:00:05
ip -n shop-web.4 addr replace 10.1.0.5/24 dev eth1
ip -n shop-web.4 link set eth1 up
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:02:00:01 dev ovx4096 dst 172.16.0.1 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:02:00:02 dev ovx4096 dst 172.16.1.1 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:02:00:04 dev ovx4096 dst 172.16.1.1 self permanent
bridge ${sb_ovx4096:+-n $sb_ovx4096} fdb replace 02:42:0a:02:00:05 dev ovx4096 dst 172.16.2.1 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:01 dev ovx4097 dst 172.16.2.1 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:02 dev ovx4097 dst 172.16.3.1 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:03 dev ovx4097 dst 172.16.0.1 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:04 dev ovx4097 dst 172.16.0.2 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:05 dev ovx4097 dst 172.16.1.1 self permanent
bridge ${sb_ovx4097:+-n $sb_ovx4097} fdb replace 02:42:0a:03:00:c8 dev ovx4097 dst 172.16.0.1 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 02:42:0a:01:00:02 dev ovx4098 dst 172.16.1.1 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 02:42:0a:01:00:04 dev ovx4098 dst 172.16.1.1 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 02:42:0a:01:00:0a dev ovx4098 dst 172.16.3.1 self permanent
bridge ${sb_ovx4098:+-n $sb_ovx4098} fdb replace 02:42:0a:01:00:0b dev ovx4098 dst 172.16.3.1 self permanent
bridge ${sb_ovx4099:+-n $sb_ovx4099} fdb replace 02:42:0a:04:00:01 dev ovx4099 dst 172.16.0.2 self permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.2.0.1 lladdr 02:42:0a:02:00:01 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.2.0.2 lladdr 02:42:0a:02:00:02 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.2.0.4 lladdr 02:42:0a:02:00:04 dev ovx4096 nud permanent
ip ${sb_ovx4096:+-n $sb_ovx4096} neigh replace 10.2.0.5 lladdr 02:42:0a:02:00:05 dev ovx4096 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.1 lladdr 02:42:0a:03:00:01 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.2 lladdr 02:42:0a:03:00:02 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.200 lladdr 02:42:0a:03:00:c8 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.3 lladdr 02:42:0a:03:00:03 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.4 lladdr 02:42:0a:03:00:04 dev ovx4097 nud permanent
ip ${sb_ovx4097:+-n $sb_ovx4097} neigh replace 10.3.0.5 lladdr 02:42:0a:03:00:05 dev ovx4097 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace 10.1.0.10 lladdr 02:42:0a:01:00:0a dev ovx4098 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace 10.1.0.11 lladdr 02:42:0a:01:00:0b dev ovx4098 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace 10.1.0.2 lladdr 02:42:0a:01:00:02 dev ovx4098 nud permanent
ip ${sb_ovx4098:+-n $sb_ovx4098} neigh replace 10.1.0.4 lladdr 02:42:0a:01:00:04 dev ovx4098 nud permanent
ip ${sb_ovx4099:+-n $sb_ovx4099} neigh replace 10.4.0.1 lladdr 02:42:0a:04:00:01 dev ovx4099 nud permanent
# SA 172.16.1.2 -> 172.16.0.1 spi 0x628ad884 epoch 40908: $OVERLAYC_KEY_ac100001_628ad884 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.2 dst 172.16.0.1 proto esp spi 0x628ad884 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100001_628ad884" 128
# SA 172.16.1.2 -> 172.16.1.1 spi 0xf5994278 epoch 40908: $OVERLAYC_KEY_ac100101_f5994278 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.2 dst 172.16.1.1 proto esp spi 0xf5994278 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100101_f5994278" 128
# SA 172.16.2.1 -> 172.16.1.2 spi 0x0f3c120b epoch 40907: $OVERLAYC_KEY_ac100102_0f3c120b = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.2.1 dst 172.16.1.2 proto esp spi 0x0f3c120b reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100102_0f3c120b" 128
# SA 172.16.1.1 -> 172.16.1.2 spi 0x1405dc4b epoch 40907: $OVERLAYC_KEY_ac100102_1405dc4b = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.1 dst 172.16.1.2 proto esp spi 0x1405dc4b reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100102_1405dc4b" 128
# SA 172.16.1.1 -> 172.16.1.2 spi 0x4a394f84 epoch 40908: $OVERLAYC_KEY_ac100102_4a394f84 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.1 dst 172.16.1.2 proto esp spi 0x4a394f84 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100102_4a394f84" 128
# SA 172.16.1.1 -> 172.16.1.2 spi 0x56380cd1 epoch 40909: $OVERLAYC_KEY_ac100102_56380cd1 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.1 dst 172.16.1.2 proto esp spi 0x56380cd1 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100102_56380cd1" 128
# SA 172.16.0.1 -> 172.16.1.2 spi 0x6a23e814 epoch 40908: $OVERLAYC_KEY_ac100102_6a23e814 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.0.1 dst 172.16.1.2 proto esp spi 0x6a23e814 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100102_6a23e814" 128
# SA 172.16.2.1 -> 172.16.1.2 spi 0x88a45f1c epoch 40908: $OVERLAYC_KEY_ac100102_88a45f1c = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.2.1 dst 172.16.1.2 proto esp spi 0x88a45f1c reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100102_88a45f1c" 128
# SA 172.16.2.1 -> 172.16.1.2 spi 0xcd301111 epoch 40909: $OVERLAYC_KEY_ac100102_cd301111 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.2.1 dst 172.16.1.2 proto esp spi 0xcd301111 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100102_cd301111" 128
# SA 172.16.0.1 -> 172.16.1.2 spi 0xd409230f epoch 40907: $OVERLAYC_KEY_ac100102_d409230f = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.0.1 dst 172.16.1.2 proto esp spi 0xd409230f reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100102_d409230f" 128
# SA 172.16.0.1 -> 172.16.1.2 spi 0xd46b4559 epoch 40909: $OVERLAYC_KEY_ac100102_d46b4559 = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.0.1 dst 172.16.1.2 proto esp spi 0xd46b4559 reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100102_d46b4559" 128
# SA 172.16.1.2 -> 172.16.2.1 spi 0x42c5b6dc epoch 40908: $OVERLAYC_KEY_ac100201_42c5b6dc = 0x<key‖salt hex>, fingerprint unknown (compiled without the private key)
ip xfrm state add src 172.16.1.2 dst 172.16.2.1 proto esp spi 0x42c5b6dc reqid 0x1b60480d mode transport replay-window 128 flag esn aead 'rfc4106(gcm(aes))' "$OVERLAYC_KEY_ac100201_42c5b6dc" 128
ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 4800 dir in priority 1076429288 action block
ip xfrm policy add src 172.16.0.1/32 dst 172.16.1.2/32 proto udp dport 4800 dir in priority 1076429280 tmpl src 172.16.0.1 dst 172.16.1.2 proto esp reqid 0x1b60480d mode transport
ip xfrm policy add src 172.16.1.1/32 dst 172.16.1.2/32 proto udp dport 4800 dir in priority 1076429280 tmpl src 172.16.1.1 dst 172.16.1.2 proto esp reqid 0x1b60480d mode transport
ip xfrm policy add src 172.16.2.1/32 dst 172.16.1.2/32 proto udp dport 4800 dir in priority 1076429280 tmpl src 172.16.2.1 dst 172.16.1.2 proto esp reqid 0x1b60480d mode transport
ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 4800 dir out priority 1076429288 action block
ip xfrm policy add src 172.16.1.2/32 dst 172.16.0.1/32 proto udp dport 4800 dir out priority 1076429280 tmpl src 172.16.1.2 dst 172.16.0.1 proto esp reqid 0x1b60480d mode transport
ip xfrm policy add src 172.16.1.2/32 dst 172.16.1.1/32 proto udp dport 4800 dir out priority 1076429280 tmpl src 172.16.1.2 dst 172.16.1.1 proto esp reqid 0x1b60480d mode transport
ip xfrm policy add src 172.16.1.2/32 dst 172.16.2.1/32 proto udp dport 4800 dir out priority 1076429280 tmpl src 172.16.1.2 dst 172.16.2.1 proto esp reqid 0x1b60480d mode transport
