package netns

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/topolab/topolab/topology"
)

// dynamicNeighbourBudget is the number of dynamic neighbour (ARP) entries a
// lab may need before it gets permanent ones instead. Linux keeps one
// neighbour table for all namespaces and starts dropping packets once it
// holds net.ipv4.neigh.default.gc_thresh3 (1024 by default, settable only
// in the root namespace) dynamic entries; permanent entries do not count
// (kernel 4.20 and later). Half of the default leaves room for other labs
// and the machine.
const dynamicNeighbourBudget = 512

// needsStaticNeighbours reports whether a full mesh of the plan's bridge
// networks could take more dynamic neighbour entries than the budget: on a
// network of n containers each of them, and the lab host, may learn n
// entries.
func needsStaticNeighbours(plan *topology.Plan) bool {
	total := 0
	for _, n := range plan.Networks {
		members := 0
		for _, c := range plan.Containers {
			if c.Interface(n.Name) != nil {
				members++
			}
		}
		total += members * (members + 1)
	}
	return total > dynamicNeighbourBudget
}

// addStaticNeighbours is `ip neigh add ADDRESS lladdr MAC nud permanent dev
// ethN` inside container c for every other container on each of its
// networks and for the network's gateway, and the same in the lab host on
// the bridge for c's own addresses. The lab then resolves no address by
// ARP, so captures of such labs show no ARP exchanges.
func (l *lab) addStaticNeighbours(host, ctr *netlink.Handle, c *topology.PlannedContainer) error {
	for _, i := range c.Interfaces {
		link, err := ctr.LinkByName(i.Name)
		if err != nil {
			return fmt.Errorf("finding %s: %w", i.Name, err)
		}
		n := l.plan.Network(i.Network)
		if err := addNeighbour(ctr, link.Attrs().Index, n.Gateway.AsSlice(), bridgeMAC(n.ID)); err != nil {
			return fmt.Errorf("adding neighbour %s on %s: %w", n.Gateway, i.Name, err)
		}
		for _, peer := range l.plan.Containers {
			other := peer.Interface(i.Network)
			if other == nil || other == i {
				continue
			}
			mac, err := net.ParseMAC(other.MAC)
			if err != nil {
				return fmt.Errorf("invalid MAC address %q of %s: %w", other.MAC, peer.Name, err)
			}
			if err := addNeighbour(ctr, link.Attrs().Index, other.Address.Addr().AsSlice(), mac); err != nil {
				return fmt.Errorf("adding neighbour %s on %s: %w", other.Address.Addr(), i.Name, err)
			}
		}
		mac, err := net.ParseMAC(i.MAC)
		if err != nil {
			return fmt.Errorf("invalid MAC address %q: %w", i.MAC, err)
		}
		if err := addNeighbour(host, l.bridgeIndex[i.Network], i.Address.Addr().AsSlice(), mac); err != nil {
			return fmt.Errorf("adding neighbour %s on bridge %s: %w", i.Address.Addr(), n.Bridge, err)
		}
	}
	return nil
}

func addNeighbour(h *netlink.Handle, linkIndex int, ip net.IP, mac net.HardwareAddr) error {
	return h.NeighSet(&netlink.Neigh{
		LinkIndex:    linkIndex,
		Family:       unix.AF_INET,
		State:        netlink.NUD_PERMANENT,
		IP:           ip,
		HardwareAddr: mac,
	})
}
