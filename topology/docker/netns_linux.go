package docker

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/topolab/topolab/topology"
)

// inNetns runs f on a fresh locked OS thread switched into ns. When the
// thread cannot be switched back, it stays locked, so the Go runtime ends
// it instead of reusing it in the wrong namespace.
func inNetns(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering network namespace: %w", err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leaving network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// inPidNetns runs f in the network namespace of process pid.
func inPidNetns(pid int, f func() error) error {
	if pid <= 0 {
		return fmt.Errorf("entering network namespace: container has no running process")
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("opening network namespace of pid %d: %w", pid, err)
	}
	defer ns.Close()
	return inNetns(ns, f)
}

// nsLink is an interface inside a container namespace.
type nsLink struct {
	name  string
	index int
	// peerIndex is the ifindex of a veth's peer in the Docker host
	// namespace (iflink), 0 for other links.
	peerIndex int
	addrs     []netip.Prefix
}

// readNamespace returns the links of pid's namespace and the name of the
// interface carrying its IPv4 default route, "" for none.
func readNamespace(pid int) (links []nsLink, gateway string, err error) {
	err = inPidNetns(pid, func() error {
		all, err := netlink.LinkList()
		if err != nil {
			return fmt.Errorf("listing links: %w", err)
		}
		names := map[int]string{}
		for _, link := range all {
			attrs := link.Attrs()
			names[attrs.Index] = attrs.Name
			l := nsLink{name: attrs.Name, index: attrs.Index}
			if link.Type() == "veth" {
				l.peerIndex = attrs.ParentIndex
			}
			addrs, err := netlink.AddrList(link, unix.AF_INET)
			if err != nil {
				return fmt.Errorf("listing addresses of %s: %w", attrs.Name, err)
			}
			for _, a := range addrs {
				if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
					bits, _ := a.Mask.Size()
					l.addrs = append(l.addrs, netip.PrefixFrom(ip, bits))
				}
			}
			links = append(links, l)
		}
		routes, err := netlink.RouteList(nil, unix.AF_INET)
		if err != nil {
			return fmt.Errorf("listing routes: %w", err)
		}
		for _, r := range routes {
			if isDefaultRoute(r) {
				gateway = names[r.LinkIndex]
				break
			}
		}
		return nil
	})
	return links, gateway, err
}

func isDefaultRoute(r netlink.Route) bool {
	if r.Dst == nil {
		return true
	}
	ones, _ := r.Dst.Mask.Size()
	return ones == 0
}

// hostLinkName returns the name of the Docker host's link with the given
// index and whether it is a veth.
func hostLinkName(index int) (string, bool, error) {
	link, err := netlink.LinkByIndex(index)
	if err != nil {
		return "", false, fmt.Errorf("finding host link %d: %w", index, err)
	}
	return link.Attrs().Name, link.Type() == "veth", nil
}

// compareNamespace checks c's interfaces inside its namespace: which ethN
// carries which network, the host-side veth of each, and the default
// route, and patches c with what it finds.
func (l *Lab) compareNamespace(c *topology.PlannedContainer, pid int) error {
	links, gateway, err := readNamespace(pid)
	if err != nil {
		return fmt.Errorf("reading interfaces of %s: %w", c.Name, err)
	}
	for _, iface := range c.Interfaces {
		var found *nsLink
		for i := range links {
			for _, a := range links[i].addrs {
				if a == iface.Address {
					found = &links[i]
				}
			}
		}
		if found == nil {
			l.addDifference("%s has no interface with address %s", c.Name, iface.Address)
			continue
		}
		if found.name != iface.Name {
			l.addDifference("%s is on network %s through %s, the plan says %s", c.Name, iface.Network, found.name, iface.Name)
			iface.Name = found.name
		}
		if found.peerIndex != 0 {
			if name, isVeth, err := hostLinkName(found.peerIndex); err == nil && isVeth {
				iface.HostVeth = name
			}
		}
	}
	planned := c.GatewayInterface
	if gateway != planned {
		l.addDifference("%s has its default route on %q, the plan says %q", c.Name, gateway, planned)
		c.Gateway, c.GatewayInterface = nil, ""
		for _, iface := range c.Interfaces {
			if iface.Name == gateway {
				c.Gateway, c.GatewayInterface = iface, gateway
			}
		}
	}
	return nil
}

// HostVeths returns the host-side veth of every interface of every
// container that owns a namespace, found by the peer index of the
// container's ethN. It needs a local daemon and returns
// topology.ErrNotLocal otherwise.
func (l *Lab) HostVeths() ([]HostVeth, error) {
	if !l.rt.local {
		return nil, topology.ErrNotLocal
	}
	var veths []HostVeth
	for _, c := range l.plan.Containers {
		if len(c.Interfaces) == 0 {
			continue
		}
		l.mu.Lock()
		pid := l.pids[c.Name]
		l.mu.Unlock()
		links, _, err := readNamespace(pid)
		if err != nil {
			return nil, fmt.Errorf("reading interfaces of %s: %w", c.Name, err)
		}
		for _, link := range links {
			if link.peerIndex == 0 {
				continue
			}
			name, isVeth, err := hostLinkName(link.peerIndex)
			if err != nil {
				return nil, fmt.Errorf("finding host veth of %s %s: %w", c.Name, link.name, err)
			}
			if !isVeth {
				continue
			}
			hv := HostVeth{Container: c.Name, Interface: link.name, Name: name, Index: link.peerIndex}
			if iface := interfaceByName(c, link.name); iface != nil {
				hv.Network = iface.Network
			}
			veths = append(veths, hv)
		}
	}
	return veths, nil
}

func interfaceByName(c *topology.PlannedContainer, name string) *topology.Interface {
	for _, iface := range c.Interfaces {
		if iface.Name == name {
			return iface
		}
	}
	return nil
}

// runLocked runs f on a locked OS thread of this process's namespace.
func runLocked(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return f()
}

// localGateways returns the gateways of plan's bridge networks that are
// assigned to a link of this machine's namespace, as Docker assigns them to
// docker0 and to br-<id>. Probes to them never leave the machine.
func localGateways(plan *topology.Plan) ([]netip.Addr, error) {
	addrs, err := netlink.AddrList(nil, unix.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("listing host addresses: %w", err)
	}
	local := map[netip.Addr]bool{}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			local[ip] = true
		}
	}
	var gateways []netip.Addr
	for _, n := range plan.Networks {
		if n.Driver == topology.DriverBridge && local[n.Gateway] {
			gateways = append(gateways, n.Gateway)
		}
	}
	return gateways, nil
}

// interfaceNumbers maps every IPv4 address in pid's namespace to N of the
// ethN that carries it.
func interfaceNumbers(pid int) (map[netip.Addr]int, error) {
	links, _, err := readNamespace(pid)
	if err != nil {
		return nil, err
	}
	numbers := map[netip.Addr]int{}
	for _, l := range links {
		digits, ok := strings.CutPrefix(l.name, "eth")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(digits)
		if err != nil {
			continue
		}
		for _, a := range l.addrs {
			numbers[a.Addr()] = n
		}
	}
	return numbers, nil
}
