// Package netns is topolab's native runtime: it builds a topology.Plan as
// real Linux networking inside network namespaces of its own, with no
// daemon and no external tools. Links, addresses and routes go through
// netlink (vishvananda/netlink) and packet filtering through nftables
// (google/nftables), so the lab needs only the kernel.
//
// A lab consists of:
//
//   - the lab host, one namespace that plays the Docker host. It contains
//     docker0 (172.17.0.1/16), one bridge per user-defined bridge network
//     and the uplink eth0 (192.0.2.10/24). Its nftables rules reproduce
//     the filter, NAT and raw rules of Docker Engine 28/29 with the
//     iptables backend;
//   - one namespace per container in bridge or none mode, whose ethN veths
//     are created directly inside it;
//   - the outside, one namespace holding the uplink's router (192.0.2.1),
//     the addresses of the topology's outside hosts and an upstream DNS
//     server, with no route to anything but the uplink subnet.
//
// Containers in host mode use the lab host's namespace and containers in
// container:NAME mode the namespace of NAME. The root network namespace is
// never changed, and every namespace is held by file descriptor only, never
// by a bind mount, so the kernel frees a lab when its process exits, even
// when the process is killed.
//
// Runtime.Up builds a lab for the calling process. Runtime.Supervise builds
// one for a long-lived supervisor process that records where other processes
// find its namespaces (Runtime.Attach), and Runtime.Down stops it.
//
// The package does not talk to Docker and does not simulate drivers other
// than bridge: macvlan, ipvlan and overlay networks are rejected.
package netns
