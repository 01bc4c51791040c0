package topology_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/topolab/topolab/topology"
)

// invalidCase is a file under testdata/invalid and every error it must
// give, in order, without the leading "FILE:".
type invalidCase struct {
	name string
	// plan is true when the file loads and only planning rejects it.
	plan bool
	want []string
}

var invalidCases = []invalidCase{
	{"address-broadcast-address", false, []string{
		"7:29: containers.web.networks.front.ipv4_address: 10.10.0.255 is the broadcast address of 10.10.0.0/24, which Docker reserves; fix: use a host address of the subnet",
	}},
	{"address-is-gateway", false, []string{
		"8:29: containers.web.networks.front.ipv4_address: address 10.10.0.254 is already in use by the gateway; fix: use another address; the gateway has this one",
	}},
	{"address-network-address", false, []string{
		"7:29: containers.web.networks.front.ipv4_address: 10.10.0.0 is the network address of 10.10.0.0/24, which Docker reserves; fix: use a host address of the subnet",
	}},
	{"address-not-ip", false, []string{
		"6:29: containers.web.networks.front.ipv4_address: invalid IPv4 address \"10.10.0.300\"; fix: write an IPv4 address such as 172.18.0.10",
	}},
	{"address-on-default-bridge", false, []string{
		"5:23: containers.web.networks.bridge.ipv4_address: user specified IP address is supported on user defined networks only; fix: put the container on a user-defined network with a subnet",
	}},
	{"address-outside-pool", true, []string{
		"6:7: containers.web.networks.front.ipv4_address: no configured subnet contains IP address 10.99.0.5; fix: use an address inside 172.18.0.0/16",
	}},
	{"address-outside-subnet", false, []string{
		"7:29: containers.web.networks.front.ipv4_address: no configured subnet contains IP address 10.10.1.5; fix: use an address inside 10.10.0.0/24",
	}},
	{"address-twice", false, []string{
		"10:29: containers.web2.networks.front.ipv4_address: address 10.10.0.5 on front is already assigned to web1 (Docker: address already in use); fix: give each container its own address",
	}},
	{"alias-invalid", false, []string{
		"7:24: containers.web.networks.front.aliases: invalid alias \"bad alias\": not a DNS name; fix: use letters, digits and '-' in labels of at most 63 characters, separated by dots",
		"7:37: containers.web.networks.front.aliases: invalid alias \"-x\": not a DNS name; fix: use letters, digits and '-' in labels of at most 63 characters, separated by dots",
	}},
	{"alias-on-default-bridge", false, []string{
		"5:18: containers.web.networks.bridge.aliases: network-scoped aliases are only supported for user-defined networks; fix: put the container on a user-defined network and give the aliases there",
	}},
	{"bridge-name-docker0", false, []string{
		"3:47: networks.front.options.com.docker.network.bridge.name: bridge device docker0 is already used by network bridge; fix: choose another bridge name",
	}},
	{"bridge-name-too-long", false, []string{
		"4:39: networks.front.options.com.docker.network.bridge.name: interface name \"br-frontend-1234\" is not a valid Linux interface name; fix: use at most 15 letters, digits, '.', '-' or '_'",
	}},
	{"bridge-name-twice", false, []string{
		"5:47: networks.back.options.com.docker.network.bridge.name: bridge device br-lab is already used by network front; fix: choose another bridge name",
	}},
	{"cascade-bad-subnet", false, []string{
		"3:13: networks.front.subnet: invalid subnet \"10.1.0.0/33\"; fix: write an IPv4 CIDR such as 172.18.0.0/16",
	}},
	{"cascade-containers-broken", false, []string{
		"1:13: containers: expected a mapping, found a list; fix: write it as key: value lines",
	}},
	{"cascade-networks-broken", false, []string{
		"1:11: networks: expected a mapping, found a list; fix: write it as key: value lines",
	}},
	{"container-is-list", false, []string{
		"2:8: containers.web: expected a mapping, found a list; fix: write it as key: value lines",
	}},
	{"container-mode-cycle", false, []string{
		"3:19: containers.a.network_mode: network modes form a loop, so no container of it can start: a -> b -> c -> a; fix: let one container of the loop have its own network",
		"5:19: containers.b.network_mode: network modes form a loop, so no container of it can start: b -> c -> a -> b; fix: let one container of the loop have its own network",
		"7:19: containers.c.network_mode: network modes form a loop, so no container of it can start: c -> a -> b -> c; fix: let one container of the loop have its own network",
	}},
	{"container-mode-empty-target", false, []string{
		"3:19: containers.sidecar.network_mode: invalid network mode \"container:\"; fix: use host, none, bridge or container:NAME",
	}},
	{"container-mode-hostname", false, []string{
		"5:15: containers.sidecar.hostname: conflicting options: hostname and the network mode; fix: remove hostname: the container shares app's",
	}},
	{"container-mode-networks", false, []string{
		"5:16: containers.sidecar.networks: a container in network mode container:app cannot be connected to any other network (Docker: container sharing network namespace with another container or host cannot be connected to any other network); fix: remove networks, or remove network_mode",
	}},
	{"container-mode-ports", false, []string{
		"5:13: containers.sidecar.ports: conflicting options: port publishing and the container type network mode; fix: publish the ports on app instead",
	}},
	{"container-mode-self", false, []string{
		"3:19: containers.sidecar.network_mode: cannot join own network: sidecar names itself; fix: remove network_mode, or name another container",
	}},
	{"container-mode-unknown", false, []string{
		"3:19: containers.sidecar.network_mode: unknown container \"app\" (Docker: No such container: app); fix: name a container of this file",
	}},
	{"container-name-host", false, []string{
		"2:3: containers.host: container name \"host\" is reserved; fix: choose another name; host is the Docker host",
	}},
	{"container-name-too-long", false, []string{
		"2:3: containers.a123456789012345678901234567890123456789012345678901234567890123: invalid container name \"a123456789012345678901234567890123456789012345678901234567890123\": not a DNS label; fix: use letters, digits and '-', at most 63 characters",
	}},
	{"container-name-underscore", false, []string{
		"2:3: containers.web_1: invalid container name \"web_1\": not a DNS label; fix: use letters, digits and '-', at most 63 characters",
	}},
	{"containers-is-string", false, []string{
		"1:13: containers: expected a mapping, found a string; fix: write it as key: value lines",
	}},
	{"driver-unknown", false, []string{
		"3:13: networks.front.driver: unknown network driver \"bridg\"; fix: use bridge, macvlan, ipvlan or overlay",
	}},
	{"expect-missing-result", false, []string{
		"5:5: expect[0].result: expectation has no result; fix: add result: ok (or timeout, refused, unreachable, no-name, error, fail)",
	}},
	{"expect-resolves-to-unknown", false, []string{
		"7:62: expect[0].resolves_to[1]: unknown node \"c\"; fix: name containers or outside hosts of this file",
		"7:65: expect[0].resolves_to[2]: host cannot be an answer: the Docker host has no name in the lab's DNS; fix: name containers or outside hosts of this file",
	}},
	{"expect-unknown-result", false, []string{
		"5:42: expect[0].result: unknown result \"dropped\"; fix: use one of ok, timeout, refused, unreachable, no-name, error or fail",
	}},
	{"gateway-broadcast-address", false, []string{
		"4:14: networks.front.gateway: gateway 10.10.0.255 is the broadcast address of 10.10.0.0/24; fix: use a host address of the subnet",
	}},
	{"gateway-network-address", false, []string{
		"4:14: networks.front.gateway: gateway 10.10.0.0 is the network address of 10.10.0.0/24; fix: use a host address of the subnet",
	}},
	{"gateway-outside-subnet", false, []string{
		"4:14: networks.front.gateway: gateway 10.10.1.1 is outside subnet 10.10.0.0/24 (Docker: no matching subnet for gateway); fix: use an address inside 10.10.0.0/24",
	}},
	{"gateway-without-subnet", false, []string{
		"3:14: networks.front.gateway: a gateway needs an explicit subnet (Docker: every ip-range or gateway must have a corresponding subnet); fix: add a subnet: that contains the gateway",
	}},
	{"gw-priority-overflow", false, []string{
		"6:30: containers.web.networks.backend.gw_priority: 99999999999 is out of range; fix: use a whole number from -2147483648 to 2147483647",
	}},
	{"gw-priority-string", false, []string{
		"6:30: containers.web.networks.backend.gw_priority: expected a whole number, found a string \"high\"; fix: use a whole number from -2147483648 to 2147483647",
	}},
	{"host-mode-networks", false, []string{
		"6:16: containers.web.networks: a container in network mode host cannot be connected to any other network (Docker: container sharing network namespace with another container or host cannot be connected to any other network); fix: remove networks, or remove network_mode",
	}},
	{"host-mode-ports", false, []string{
		"4:13: containers.web.ports: published ports are discarded when using host network mode (Docker warns and publishes nothing); fix: remove ports: the container uses the host's ports directly",
	}},
	{"hostname-invalid", false, []string{
		"3:15: containers.web.hostname: invalid hostname \"db_primary\": not a DNS name; fix: use labels of letters, digits and '-' separated by dots, at most 64 characters in all",
	}},
	{"hostname-list", false, []string{
		"3:15: containers.web.hostname: expected a string, found a list; fix: write a single value",
	}},
	{"icc-number", false, []string{
		"3:10: networks.backend.icc: expected a boolean, found a number \"0\"; fix: write true or false",
	}},
	{"icc-on-macvlan", false, []string{
		"4:10: networks.lan.icc: icc is an option of the bridge driver, not of macvlan; fix: remove icc: it applies to bridge networks only",
	}},
	{"iface-prefix-too-long", false, []string{
		"4:50: networks.front.options.com.docker.network.container_iface_prefix: prefix \"abcdefghijklmn\" makes interface names longer than 15 characters; fix: use a prefix of at most 13 letters, digits, '-' or '_'",
	}},
	{"image-null", false, []string{
		"3:12: containers.web.image: expected a string, found null; fix: give it a value or remove the field",
	}},
	{"internal-not-bool", false, []string{
		"3:15: networks.backend.internal: expected a boolean, found a string \"yes\"; fix: write true or false",
	}},
	{"lab-name-invalid", false, []string{
		"1:7: name: invalid lab name \"My Lab\"; fix: use lower-case letters, digits and '-', starting with a letter or digit, at most 40 characters",
	}},
	{"listen-invalid", false, []string{
		"3:14: containers.web.listen[0]: invalid listen port \"http\": port \"http\" is not a number from 1 to 65535; fix: write port[/tcp|udp], such as 80/tcp",
		"3:20: containers.web.listen[1]: invalid listen port \"0/tcp\": port \"0\" is not a number from 1 to 65535; fix: write port[/tcp|udp], such as 80/tcp",
	}},
	{"listen-twice", false, []string{
		"3:22: containers.web.listen[1]: 80/tcp is listed twice; fix: list each port once",
	}},
	{"many-errors", false, []string{
		"5:14: networks.front.gateway: gateway 10.2.0.1 is outside subnet 10.1.0.0/16 (Docker: no matching subnet for gateway); fix: use an address inside 10.1.0.0/16",
		"8:5: containers.web.imgae: unknown field \"imgae\"; fix: did you mean \"image\"? (known fields: image, networks, hostname, ports, listen, network_mode)",
		"9:23: containers.web.networks.nowhere: unknown network \"nowhere\"; fix: define it under networks: or use one of bridge, front",
		"10:24: containers.web.ports[1]: Bind for 0.0.0.0:8080 failed: port is already allocated (by web, \"8080:80\"); fix: choose another host port, or bind the two on different host addresses",
		"11:3: containers.db_1: invalid container name \"db_1\": not a DNS label; fix: use letters, digits and '-', at most 63 characters",
		"13:33: probes[0].kind: unknown probe kind \"icmp\"; fix: use kind: ping for ICMP echo",
	}},
	{"network-listed-twice", false, []string{
		"5:25: containers.web.networks.backend: network \"backend\" is listed twice; fix: list each network once",
	}},
	{"network-mode-invalid", false, []string{
		"3:19: containers.web.network_mode: invalid network mode \"bridged\"; fix: use host, none, bridge or container:NAME",
	}},
	{"network-name-leading-dash", false, []string{
		"2:3: networks.-front: invalid network name \"-front\": not a DNS label; fix: use letters, digits and '-', at most 63 characters",
	}},
	{"network-name-predefined", false, []string{
		"2:3: networks.bridge: network name \"bridge\" is predefined; fix: choose another name; bridge, host and none always exist",
	}},
	{"networks-is-list", false, []string{
		"1:11: networks: expected a mapping, found a list; fix: write it as key: value lines",
	}},
	{"networks-lists-host", false, []string{
		"3:16: containers.web.networks.host: network \"host\" cannot be listed with networks; it is a network mode; fix: write network_mode: host instead",
	}},
	{"none-mode-networks", false, []string{
		"4:16: containers.isolated.networks: container cannot be connected to multiple networks with one of the networks in private (none) mode; fix: remove networks, or remove network_mode: none",
	}},
	{"none-mode-ports", false, []string{
		"4:13: containers.isolated.ports: ports cannot be published in network mode none; fix: remove ports: a container without a network has nothing to publish on",
	}},
	{"option-bad-mtu", false, []string{
		"4:38: networks.front.options.com.docker.network.driver.mtu: invalid MTU \"jumbo\"; fix: use a number from 68 to 65535",
	}},
	{"option-bad-value", false, []string{
		"6:21: networks.lan.options.macvlan_mode: invalid value \"bridged\"; fix: use one of bridge, vepa, private, passthru",
	}},
	{"option-unknown", false, []string{
		"4:45: networks.front.options.com.docker.network.bridge.enable_icc: option \"com.docker.network.bridge.enable_icc\" is not supported for the bridge driver; fix: write icc: false on the network instead of the option",
	}},
	{"options-list", false, []string{
		"3:14: networks.backend.options: expected a mapping, found a list; fix: write it as key: value lines",
	}},
	{"outside-name-invalid", false, []string{
		"4:3: outside.bad_name.example: invalid outside host name \"bad_name.example\"; fix: use DNS labels separated by dots, such as example.com",
	}},
	{"outside-name-taken", false, []string{
		"4:3: outside.web: name \"web\" is already used by a container at line 2; fix: give the outside host another name",
	}},
	{"outside-not-address", false, []string{
		"4:16: outside.example.com: invalid address \"example.org\"; fix: write an IPv4 documentation address such as 203.0.113.10",
	}},
	{"outside-not-documentation", false, []string{
		"4:15: outside.dns.google: address 8.8.8.8 is not a documentation address; a lab never simulates real hosts; fix: use an address in 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24",
	}},
	{"outside-reserved", false, []string{
		"4:19: outside.router.example: address 192.0.2.1 is reserved; fix: use another address; 192.0.2.10 is the Docker host's uplink and 192.0.2.1 the outside router",
	}},
	{"parent-too-long", false, []string{
		"6:15: networks.lan.options.parent: interface name \"enp0s31f6.100000\" is not a valid Linux interface name; fix: use at most 15 letters, digits, '.', '-' or '_'",
	}},
	{"port-any-vs-specific", false, []string{
		"5:13: containers.web2.ports[0]: Bind for 127.0.0.1:8080 failed: port is already allocated (by web1, \"127.0.0.1:8080:80\"); fix: choose another host port, or bind the two on different host addresses",
	}},
	{"port-bad-proto", false, []string{
		"3:13: containers.web.ports[0]: invalid port \"80/sctp\": protocol \"sctp\" is not tcp or udp; fix: write [ip:][host_port:]container_port[/tcp|udp], such as 8080:80",
	}},
	{"port-host-ip-foreign", true, []string{
		"3:13: containers.web.ports: host address 10.1.2.3 is not an address of the Docker host (Docker: cannot assign requested address); fix: use 127.0.0.1, 192.0.2.10 (the uplink) or a bridge gateway, or leave the address out",
	}},
	{"port-host-ipv6", false, []string{
		"3:13: containers.web.ports[0]: invalid port \"[::1]:8080:80\": too many ':' (IPv6 host addresses are not supported); fix: write [ip:][host_port:]container_port[/tcp|udp], such as 8080:80",
	}},
	{"port-is-mapping", false, []string{
		"4:9: containers.web.ports[0]: expected a string, found a mapping; fix: write a single value",
	}},
	{"port-out-of-range", false, []string{
		"3:13: containers.web.ports[0]: invalid port \"70000:80\": host port \"70000\" is not a number from 1 to 65535; fix: write [ip:][host_port:]container_port[/tcp|udp], such as 8080:80",
	}},
	{"port-published-twice", false, []string{
		"5:13: containers.web2.ports[0]: Bind for 0.0.0.0:8080 failed: port is already allocated (by web1, \"8080:80\"); fix: choose another host port, or bind the two on different host addresses",
	}},
	{"port-range-clash", false, []string{
		"3:32: containers.web.ports[1]: Bind for 0.0.0.0:8001 failed: port is already allocated (by web, \"8000-8002:80-82\"); fix: choose another host port, or bind the two on different host addresses",
	}},
	{"port-range-mismatch", false, []string{
		"3:13: containers.web.ports[0]: invalid port \"8080-8081:80-82\": host range 8080-8081 has 2 ports but container range 80-82 has 3; fix: write [ip:][host_port:]container_port[/tcp|udp], such as 8080:80",
	}},
	{"port-too-many-colons", false, []string{
		"3:13: containers.web.ports[0]: invalid port \"1:2:3:4\": too many ':' (IPv6 host addresses are not supported); fix: write [ip:][host_port:]container_port[/tcp|udp], such as 8080:80",
	}},
	{"ports-exhausted", true, []string{
		"3:13: containers.web.ports: all ports are allocated: no free host port from 32768 to 60999 for 0.0.0.0/tcp; fix: publish fewer ports without a host port, or give them host ports",
	}},
	{"probe-by-invalid", false, []string{
		"5:38: probes[0].by: unknown value \"address\"; fix: use ip or name",
	}},
	{"probe-dns-by-ip", false, []string{
		"5:37: probes[0].by: a dns probe cannot go by ip; fix: remove by: ip; a dns probe always looks up a name",
	}},
	{"probe-missing-fields", false, []string{
		"4:5: probes[0].from: missing source; fix: add from: with a container, outside host or host",
		"4:5: probes[0].to: missing target; fix: add to: with a node name, or via: ADDRESS:PORT",
		"4:5: probes[0].kind: missing probe kind; fix: add kind: ping, dns, http, tcp or udp",
	}},
	{"probe-name-by-ip", false, []string{
		"5:48: probes[0].name: name is only used with by: name; fix: remove name:, or set by: name",
	}},
	{"probe-network-not-attached", false, []string{
		"7:43: probes[0].network: b is not attached to network \"front\"; fix: name a network that b is attached to",
	}},
	{"probe-network-on-outside", false, []string{
		"8:55: probes[0].network: network selects the target container's address, but example.com is not a container; fix: remove network:, or probe a container",
	}},
	{"probe-ping-port", false, []string{
		"5:40: probes[0].port: ping takes no port; fix: remove port: ping has no ports",
	}},
	{"probe-port-string", false, []string{
		"5:39: probes[0].port: expected a whole number, found a string \"http\"; fix: use a whole number from 1 to 65535",
	}},
	{"probe-unknown-from", false, []string{
		"4:12: probes[0].from: unknown node \"alpine9\"; fix: name a container, an outside host or host",
	}},
	{"probe-unknown-kind", false, []string{
		"5:28: probes[0].kind: unknown probe kind \"icmp\"; fix: use kind: ping for ICMP echo",
	}},
	{"probe-unknown-network", false, []string{
		"5:43: probes[0].network: unknown network \"front\"; fix: name a network of this file or bridge",
	}},
	{"probe-unknown-to", false, []string{
		"4:19: probes[0].to: unknown node \"alpine9\"; fix: name a container, an outside host or host",
	}},
	{"probe-via-bad-address", false, []string{
		"4:31: probes[0].via: invalid via \"router:80\": \"router\" is not an address; fix: write ADDRESS:PORT where ADDRESS is an IPv4 address, uplink, gateway or localhost",
	}},
	{"probe-via-outside-lab", true, []string{
		"4:5: probes[0].via: via address 8.8.8.8 is not an address of this lab; topolab sends only to the lab's own addresses; fix: use uplink, gateway, localhost or an address of the lab's host, containers or outside hosts",
		"6:5: expect[0].via: via address 10.255.255.53 is not an address of this lab; topolab sends only to the lab's own addresses; fix: use uplink, gateway, localhost or an address of the lab's host, containers or outside hosts",
	}},
	{"probe-via-bad-port", false, []string{
		"4:32: probes[0].via: invalid via \"uplink:http\": port \"http\" is not a number from 1 to 65535; fix: write ADDRESS:PORT where ADDRESS is an IPv4 address, uplink, gateway or localhost",
	}},
	{"probe-via-no-port", false, []string{
		"4:31: probes[0].via: invalid via \"gateway\": missing port; fix: write ADDRESS:PORT where ADDRESS is an IPv4 address, uplink, gateway or localhost",
	}},
	{"probe-via-ping", false, []string{
		"4:32: probes[0].via: ping cannot go via a port; fix: use kind: tcp, http or udp with via",
	}},
	{"probes-not-list", false, []string{
		"4:3: probes: expected a list, found a mapping; fix: write it as a list: [a, b] or lines starting with -",
	}},
	{"subnet-contains-outside", false, []string{
		"2:19: networks.front.subnet: subnet 203.0.113.0/24 contains outside host example.com (203.0.113.10); fix: move the outside host or the subnet",
	}},
	{"subnet-host-bits", false, []string{
		"3:13: networks.front.subnet: subnet \"10.10.0.1/16\" has host bits set; fix: write 10.10.0.0/16",
	}},
	{"subnet-ipv6", false, []string{
		"3:13: networks.front.subnet: invalid subnet \"fd00::/64\"; fix: write an IPv4 CIDR such as 172.18.0.0/16",
	}},
	{"subnet-not-cidr", false, []string{
		"3:13: networks.front.subnet: invalid subnet \"10.10.0.0\"; fix: write an IPv4 CIDR such as 172.18.0.0/16",
	}},
	{"subnet-overlaps-default-bridge", false, []string{
		"3:13: networks.front.subnet: subnet 172.16.0.0/12 overlaps the default bridge's 172.17.0.0/16 (Docker: pool overlaps with other one on this address space); fix: choose a subnet outside 172.17.0.0/16",
	}},
	{"subnet-overlaps-uplink", false, []string{
		"2:19: networks.front.subnet: subnet 192.0.2.0/25 overlaps the Docker host's uplink network 192.0.2.0/24; fix: choose a subnet outside 192.0.2.0/24",
	}},
	{"subnet-too-small", false, []string{
		"3:13: networks.front.subnet: subnet \"10.10.0.0/31\" has no room for a gateway and a container; fix: use a prefix of /30 or shorter",
	}},
	{"subnets-overlap", false, []string{
		"5:13: networks.back.subnet: subnet 10.10.128.0/17 overlaps 10.10.0.0/16 of network front (Docker: pool overlaps with other one on this address space); fix: choose a subnet that overlaps no other network",
	}},
	{"tagged-wrong-type", false, []string{
		"8:15: networks.front.internal: expected a boolean, found a string \"true\"; fix: write true or false",
	}},
	{"top-level-list", false, []string{
		"1:1: expected a mapping at the top of the file, found a list; fix: start the file with fields such as name:, networks: and containers:",
	}},
	{"top-level-scalar", false, []string{
		"1:1: expected a mapping at the top of the file, found a string; fix: start the file with fields such as name:, networks: and containers:",
	}},
	{"unknown-attachment-field", false, []string{
		"7:9: containers.db.networks.backend.alias: unknown field \"alias\"; fix: did you mean \"aliases\"? (known fields: aliases, ipv4_address, gw_priority)",
	}},
	{"unknown-container-field", false, []string{
		"3:5: containers.web.imgae: unknown field \"imgae\"; fix: did you mean \"image\"? (known fields: image, networks, hostname, ports, listen, network_mode)",
	}},
	{"unknown-expect-field", false, []string{
		"5:34: expect[0].reslt: unknown field \"reslt\"; fix: did you mean \"result\"? (known fields: from, to, kind, by, network, name, port, via, result, resolves_to)",
	}},
	{"unknown-field-no-suggestion", false, []string{
		"3:5: containers.web.volumes: unknown field \"volumes\"; fix: remove it (known fields: image, networks, hostname, ports, listen, network_mode)",
	}},
	{"unknown-network-field", false, []string{
		"3:5: networks.backend.subnett: unknown field \"subnett\"; fix: did you mean \"subnet\"? (known fields: driver, subnet, gateway, internal, icc, options)",
	}},
	{"unknown-network", false, []string{
		"5:16: containers.web.networks.backnd: unknown network \"backnd\"; fix: did you mean \"backend\"? (networks: bridge, backend)",
	}},
	{"unknown-probe-field", false, []string{
		"5:22: probes[0].kidn: unknown field \"kidn\"; fix: did you mean \"kind\"? (known fields: from, to, kind, by, network, name, port, via)",
	}},
	{"unknown-top-field", false, []string{
		"2:1: containerz: unknown field \"containerz\"; fix: did you mean \"containers\"? (known fields: name, networks, containers, outside, probes, expect)",
	}},
	{"wrong-types-everywhere", false, []string{
		"4:13: networks.front.driver: expected a string, found a list; fix: write a single value",
		"5:13: networks.front.subnet: expected a string, found a mapping; fix: write a single value",
		"6:14: networks.front.gateway: invalid gateway \"true\"; fix: write an IPv4 address such as 172.18.0.1",
		"7:15: networks.front.internal: expected a boolean, found a string \"maybe\"; fix: write true or false",
		"8:10: networks.front.icc: expected a boolean, found a string \"no\"; fix: write true or false",
		"9:14: networks.front.options: expected a mapping, found a string; fix: write it as key: value lines",
		"12:12: containers.web.image: expected a string, found a mapping; fix: write a single value",
		"14:15: containers.web.networks: expected a mapping, found a number; fix: write it as key: value lines",
		"15:12: containers.web.ports[0]: expected a string, found a mapping; fix: write a single value",
		"16:13: containers.web.listen[0]: expected a string, found a mapping; fix: write a single value",
		"17:19: containers.web.network_mode: expected a string, found a list; fix: write a single value",
		"18:10: outside: expected a mapping, found a list; fix: write it as key: value lines",
		"19:9: probes: expected a list, found a mapping; fix: write it as a list: [a, b] or lines starting with -",
		"20:9: expect: expected a list, found a string; fix: write it as a list: [a, b] or lines starting with -",
	}},
	{"yaml-alias-bomb-in-field", false, []string{
		"1:1: x-lol: unknown field \"x-lol\"; fix: remove it (known fields: name, networks, containers, outside, probes, expect)",
		"4:17: containers.web.listen[0]: expected a string, found a list; fix: write a single value",
		"4:20: containers.web.listen[1]: expected a string, found a list; fix: write a single value",
		"4:23: containers.web.listen[2]: expected a string, found a list; fix: write a single value",
		"4:26: containers.web.listen[3]: expected a string, found a list; fix: write a single value",
		"4:29: containers.web.listen[4]: expected a string, found a list; fix: write a single value",
		"4:32: containers.web.listen[5]: expected a string, found a list; fix: write a single value",
		"4:35: containers.web.listen[6]: expected a string, found a list; fix: write a single value",
		"4:38: containers.web.listen[7]: expected a string, found a list; fix: write a single value",
		"4:41: containers.web.listen[8]: expected a string, found a list; fix: write a single value",
	}},
	{"yaml-alias-to-self", false, []string{
		"2:18: containers.web: alias *web is inside the value of its own anchor &web; fix: move the alias out of the value that &web names",
	}},
	{"yaml-bad-indent", false, []string{
		"4:4: invalid YAML: value is not allowed in this context; fix: check the indentation: keys of one mapping start in the same column, and a value needs a space after ':'",
	}},
	{"yaml-billion-laughs", false, []string{
		"1:1: a: unknown field \"a\"; fix: remove it (known fields: name, networks, containers, outside, probes, expect)",
		"2:1: b: unknown field \"b\"; fix: remove it (known fields: name, networks, containers, outside, probes, expect)",
		"3:1: c: unknown field \"c\"; fix: remove it (known fields: name, networks, containers, outside, probes, expect)",
		"4:1: d: unknown field \"d\"; fix: remove it (known fields: name, networks, containers, outside, probes, expect)",
		"5:1: e: unknown field \"e\"; fix: remove it (known fields: name, networks, containers, outside, probes, expect)",
		"6:1: f: unknown field \"f\"; fix: remove it (known fields: name, networks, containers, outside, probes, expect)",
		"7:1: g: unknown field \"g\"; fix: remove it (known fields: name, networks, containers, outside, probes, expect)",
		"8:1: h: unknown field \"h\"; fix: remove it (known fields: name, networks, containers, outside, probes, expect)",
		"9:1: i: unknown field \"i\"; fix: remove it (known fields: name, networks, containers, outside, probes, expect)",
	}},
	{"yaml-duplicate-key", false, []string{
		"3:3: containers.web: duplicate key \"web\", first defined at line 2; fix: remove one of them",
	}},
	{"yaml-empty", false, []string{
		"1:1: file is empty; fix: add at least a containers: section",
	}},
	{"yaml-merge-twice", false, []string{
		"3:20: containers.web.<<: duplicate key \"<<\", first defined at line 3; fix: remove one of them",
	}},
	{"yaml-only-comments", false, []string{
		"1:1: file is empty; fix: add at least a containers: section",
	}},
	{"yaml-tab-indent", false, []string{
		"2:1: invalid YAML: found character '\t' that cannot start any token; fix: indent with spaces: YAML does not allow tabs",
	}},
	{"yaml-two-documents", false, []string{
		"4:1: file has more than one YAML document (document 2); fix: remove the --- separator and keep one document",
	}},
	{"yaml-unclosed-flow", false, []string{
		"3:3: invalid YAML: ',' or '}' must be specified; fix: close the { mapping with } and separate its entries with commas",
	}},
	{"yaml-unknown-alias", false, []string{
		"2:8: containers.web: unknown alias *base; fix: define the anchor &base before this alias",
	}},
}

// loadAndPlan parses data and plans it when it parses, returning the first
// error of the two and whether it came from planning.
func loadAndPlan(name string, data []byte) (fromPlan bool, err error) {
	top, err := topology.Parse(name, data)
	if err != nil {
		return false, err
	}
	_, err = topology.PlanTopology(top)
	return true, err
}

func TestParseInvalidFiles(t *testing.T) {
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", "invalid", tc.name+".yaml")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fromPlan, err := loadAndPlan(path, data)
			if err == nil {
				t.Fatal("file was accepted")
			}
			if fromPlan != tc.plan {
				t.Errorf("rejected by planning = %v, want %v (error: %v)", fromPlan, tc.plan, err)
			}
			if !errors.Is(err, topology.ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			var list topology.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want topology.ErrorList", err)
			}
			got := make([]string, len(list))
			for i, e := range list {
				got[i] = strings.TrimPrefix(e.Error(), path+":")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors differ\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestInvalidFilesAllListed keeps the table and testdata/invalid in step, so
// that no file goes untested.
func TestInvalidFilesAllListed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, tc := range invalidCases {
		listed[tc.name] = true
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if !listed[name] {
			t.Errorf("%s has no entry in invalidCases", f)
		}
		delete(listed, name)
	}
	for name := range listed {
		t.Errorf("invalidCases lists %s, but testdata/invalid/%s.yaml does not exist", name, name)
	}
}

// TestErrorsNamePlaceFieldAndFix checks the contract of every error of every
// invalid file: a line and column, a field unless the problem is the whole
// file, a message and a fix.
func TestErrorsNamePlaceFieldAndFix(t *testing.T) {
	for _, tc := range invalidCases {
		path := filepath.Join("testdata", "invalid", tc.name+".yaml")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = loadAndPlan(path, data)
		var list topology.ErrorList
		if !errors.As(err, &list) {
			t.Errorf("%s: error is %T, want topology.ErrorList", tc.name, err)
			continue
		}
		for _, e := range list {
			if e.File != path {
				t.Errorf("%s: File = %q, want %q", tc.name, e.File, path)
			}
			if e.Pos.Line < 1 || e.Pos.Column < 1 {
				t.Errorf("%s: %q has no position", tc.name, e)
			}
			if e.Field == "" && !fileLevel(e.Msg) {
				t.Errorf("%s: %q names no field", tc.name, e)
			}
			if e.Msg == "" || e.Fix == "" {
				t.Errorf("%s: %q lacks a message or a fix", tc.name, e)
			}
		}
	}
}

// fileLevel reports whether msg is about the file as a whole, which has no
// field to name.
func fileLevel(msg string) bool {
	for _, prefix := range []string{"invalid YAML", "file ", "expected a mapping at the top", "YAML collections nest"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}
