package netns

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/topolab/topolab/topology"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// uplinkName is the name of the uplink veth at both ends: in the lab host
// and in the outside namespace.
const uplinkName = "eth0"

// loopbackIndex is the interface index of lo, which is 1 in every network
// namespace.
const loopbackIndex = 1

// hostSysctls are set in the lab host before any link exists, so that the
// links created later inherit the default values.
var hostSysctls = [][2]string{
	{"net.ipv4.ip_forward", "1"},
	// NOTE: IPv6 is off on every new interface of the lab host, where
	// Docker hosts keep link-local addresses on bridges and veths. Labs are
	// IPv4-only, and this keeps neighbour discovery out of captures.
	{"net.ipv6.conf.default.disable_ipv6", "1"},
}

// containerSysctls returns the sysctls set in every container namespace
// before its ethN interfaces exist. Docker disables IPv6 on the interfaces
// of IPv4-only networks, and for containers with a namespace of their own
// sets ip_unprivileged_port_start to 0 and, outside a user namespace,
// ping_group_range to "0 2147483647" (WithSysctls in moby's
// daemon/oci_linux.go).
var containerSysctls = sync.OnceValue(func() [][2]string {
	pairs := [][2]string{
		{"net.ipv6.conf.default.disable_ipv6", "1"},
		{"net.ipv4.ip_unprivileged_port_start", "0"},
	}
	if !inChildUserNamespace() {
		pairs = append(pairs, [2]string{"net.ipv4.ping_group_range", "0 2147483647"})
	}
	return pairs
})

// bridgeNFCall is the br_netfilter switch that makes bridged IPv4 frames
// pass the lab host's ip forward hook. The folder exists only while the
// br_netfilter module is loaded.
const bridgeNFCall = "net.bridge.bridge-nf-call-iptables"

// setSysctls writes each name/value pair in the calling thread's namespace.
func setSysctls(pairs [][2]string) error {
	for _, p := range pairs {
		if err := writeSysctl(p[0], p[1]); err != nil {
			return err
		}
	}
	return nil
}

// setupHostSysctls sets the lab host's sysctls. bridge-nf-call-iptables is
// set to 0 when br_netfilter is loaded, so that bridged frames never reach
// the ip family hooks, as on a machine without the module. Same-bridge
// filtering (icc=false) is done in the bridge family instead, which works
// with and without the module.
func setupHostSysctls() error {
	if err := setSysctls(hostSysctls); err != nil {
		return err
	}
	if _, err := readSysctl(bridgeNFCall); err == nil {
		return writeSysctl(bridgeNFCall, "0")
	}
	return nil
}

// routeHandle opens a NETLINK_ROUTE handle in the namespace of fd.
func routeHandle(fd int) (*netlink.Handle, error) {
	h, err := netlink.NewHandleAt(vnetns.NsHandle(fd), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink socket: %w", err)
	}
	return h, nil
}

// ipNet converts a prefix to the address and mask netlink takes, keeping
// the host bits (192.0.2.10/24 stays 192.0.2.10/24).
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addAddr is `ip addr add PREFIX dev LINK`; netlink fills in the broadcast
// address as ip does with brd +.
func addAddr(h *netlink.Handle, link netlink.Link, p netip.Prefix) error {
	if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
		return fmt.Errorf("adding address %s to %s: %w", p, link.Attrs().Name, err)
	}
	return nil
}

// addDefaultRoute is `ip route add default via GW`.
func addDefaultRoute(h *netlink.Handle, gw netip.Addr) error {
	r := &netlink.Route{Gw: gw.AsSlice(), Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}}
	if err := h.RouteAdd(r); err != nil {
		return fmt.Errorf("adding default route via %s: %w", gw, err)
	}
	return nil
}

// setUpByIndex is `ip link set dev IFINDEX up` without looking the link up.
func setUpByIndex(h *netlink.Handle, index int) error {
	return h.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}})
}

// bridgeMAC returns a stable locally administered unicast MAC for a
// bridge. Docker picks a random one; a fixed one keeps a lab reproducible.
func bridgeMAC(id string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("bridge\x00" + id))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = (mac[0] &^ 0x01) | 0x02
	return mac
}

// buildHost creates the lab host namespace with its bridges, and the
// outside namespace with the uplink between them. It fills l.hostFd,
// l.outsideFd and bridge indexes.
func (l *lab) buildHost() error {
	var err error
	l.hostFd, err = newNetns(func() error {
		if err := setupHostSysctls(); err != nil {
			return err
		}
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("opening netlink socket: %w", err)
		}
		defer h.Close()
		if err := setUpByIndex(h, loopbackIndex); err != nil {
			return fmt.Errorf("setting lo up: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("creating lab host namespace: %w", err)
	}
	l.outsideFd, err = newNetns(nil)
	if err != nil {
		return fmt.Errorf("creating outside namespace: %w", err)
	}

	h, err := routeHandle(l.hostFd)
	if err != nil {
		return fmt.Errorf("lab host: %w", err)
	}
	defer h.Close()
	for _, n := range l.plan.Networks {
		if err := l.addBridge(h, n); err != nil {
			return err
		}
	}
	if err := l.buildUplink(h); err != nil {
		return err
	}
	return l.buildOutside()
}

// addBridge is `ip link add NAME type bridge; ip addr add GATEWAY/BITS dev
// NAME; ip link set NAME up`.
func (l *lab) addBridge(h *netlink.Handle, n *topology.PlannedNetwork) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = n.Bridge
	attrs.Flags = net.FlagUp
	attrs.HardwareAddr = bridgeMAC(n.ID)
	br := &netlink.Bridge{LinkAttrs: attrs}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("creating bridge %s of network %s: %w", n.Bridge, n.Name, err)
	}
	if n.Gateway.IsValid() {
		if err := addAddr(h, br, netip.PrefixFrom(n.Gateway, n.Subnet.Bits())); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	l.bridgeIndex[n.Name] = br.Index
	return nil
}

// buildUplink creates the lab host's eth0 with its peer directly in the
// outside namespace, the uplink address and the default route via the
// outside router.
func (l *lab) buildUplink(h *netlink.Handle) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = uplinkName
	attrs.Flags = net.FlagUp
	attrs.TxQLen = 0
	veth := &netlink.Veth{
		LinkAttrs:     attrs,
		PeerName:      uplinkName,
		PeerNamespace: netlink.NsFd(l.outsideFd),
		PeerTxQLen:    0,
	}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("creating uplink %s: %w", uplinkName, err)
	}
	if err := addAddr(h, veth, l.plan.Uplink); err != nil {
		return fmt.Errorf("lab host: %w", err)
	}
	if err := addDefaultRoute(h, l.plan.Router); err != nil {
		return fmt.Errorf("lab host: %w", err)
	}
	return nil
}

// buildOutside configures the outside namespace: the router address on its
// end of the uplink, and every outside host's address as a /32 on lo. It
// gets no other route, so nothing but the uplink subnet is reachable from
// it.
func (l *lab) buildOutside() error {
	h, err := routeHandle(l.outsideFd)
	if err != nil {
		return fmt.Errorf("outside: %w", err)
	}
	defer h.Close()
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: loopbackIndex, Name: "lo"}}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("outside: setting lo up: %w", err)
	}
	for _, o := range l.plan.Outside {
		if err := addAddr(h, lo, netip.PrefixFrom(o.Address, 32)); err != nil {
			return fmt.Errorf("outside host %s: %w", o.Name, err)
		}
	}
	up, err := h.LinkByName(uplinkName)
	if err != nil {
		return fmt.Errorf("outside: finding %s: %w", uplinkName, err)
	}
	if err := h.LinkSetUp(up); err != nil {
		return fmt.Errorf("outside: setting %s up: %w", uplinkName, err)
	}
	router := netip.PrefixFrom(l.plan.Router, l.plan.Uplink.Bits())
	if err := addAddr(h, up, router); err != nil {
		return fmt.Errorf("outside: %w", err)
	}
	return nil
}

// buildContainers creates the namespace of every container that has one of
// its own (bridge and none modes), using up to 2×GOMAXPROCS workers. Most of
// the work is kernel time under the rtnl lock, so more workers do not help.
func (l *lab) buildContainers(ctx context.Context) error {
	var todo []*topology.PlannedContainer
	for _, c := range l.plan.Containers {
		if c.Mode == topology.ModeBridge || c.Mode == topology.ModeNone {
			todo = append(todo, c)
		}
	}
	fds := make([]int, len(todo))
	for i := range fds {
		fds[i] = -1
	}
	workers := min(2*runtime.GOMAXPROCS(0), len(todo))
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := routeHandle(l.hostFd)
			if err != nil {
				errs <- fmt.Errorf("lab host: %w", err)
				return
			}
			defer h.Close()
			for i := range next {
				fd, err := l.buildContainer(h, todo[i])
				fds[i] = fd
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := range todo {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = fmt.Errorf("building containers: %w", ctx.Err())
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	for i, c := range todo {
		if fds[i] >= 0 {
			l.containerFd[c.Name] = fds[i]
		}
	}
	return err
}

// buildContainer creates c's namespace and its ethN veths, the host end of
// each enslaved to its network's bridge. host is a handle in the lab host.
func (l *lab) buildContainer(host *netlink.Handle, c *topology.PlannedContainer) (int, error) {
	var h *netlink.Handle
	fd, err := newNetns(func() error {
		if err := setSysctls(containerSysctls()); err != nil {
			return err
		}
		// Docker's none mode leaves lo with 127.0.0.1/8 only, no ::1
		// (docs.docker.com, network drivers, none).
		if c.Mode == topology.ModeNone {
			if err := writeSysctl("net.ipv6.conf.lo.disable_ipv6", "1"); err != nil {
				return err
			}
		}
		var err error
		if h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("opening netlink socket: %w", err)
		}
		if err := setUpByIndex(h, loopbackIndex); err != nil {
			return fmt.Errorf("setting lo up: %w", err)
		}
		return nil
	})
	if h != nil {
		defer h.Close()
	}
	if err != nil {
		return fd, fmt.Errorf("creating namespace of %s: %w", c.Name, err)
	}
	for _, i := range c.Interfaces {
		if err := l.addInterface(host, h, fd, i); err != nil {
			return fd, fmt.Errorf("creating %s in %s: %w", i.Name, c.Name, err)
		}
	}
	if l.staticNeighbours {
		if err := l.addStaticNeighbours(host, h, c); err != nil {
			return fd, fmt.Errorf("container %s: %w", c.Name, err)
		}
	}
	if c.Gateway != nil {
		gw := l.plan.Network(c.Gateway.Network).Gateway
		if err := addDefaultRoute(h, gw); err != nil {
			return fd, fmt.Errorf("container %s: %w", c.Name, err)
		}
	}
	return fd, nil
}

// addInterface is `ip link add HOSTVETH master BRIDGE up type veth peer
// name ethN address MAC netns CONTAINER` in the lab host, then `ip addr add`
// and `ip link set ethN up` inside the container through ctr.
func (l *lab) addInterface(host, ctr *netlink.Handle, ctrFd int, i *topology.Interface) error {
	mac, err := net.ParseMAC(i.MAC)
	if err != nil {
		return fmt.Errorf("invalid MAC address %q: %w", i.MAC, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = i.HostVeth
	attrs.Flags = net.FlagUp
	attrs.TxQLen = 0
	attrs.MasterIndex = l.bridgeIndex[i.Network]
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         i.Name,
		PeerHardwareAddr: mac,
		PeerNamespace:    netlink.NsFd(ctrFd),
		PeerTxQLen:       0,
	}
	if err := host.LinkAdd(veth); err != nil {
		return fmt.Errorf("creating veth %s: %w", i.HostVeth, err)
	}
	link, err := ctr.LinkByName(i.Name)
	if err != nil {
		return fmt.Errorf("finding the new veth: %w", err)
	}
	if err := ctr.LinkSetUp(link); err != nil {
		return fmt.Errorf("setting link up: %w", err)
	}
	return addAddr(ctr, link, i.Address)
}

// portsReadyTimeout bounds the wait for the lab host's links to come up.
const portsReadyTimeout = 10 * time.Second

// waitPortsReady waits until the uplink and every host veth of the lab host
// have operational state up. The kernel updates the operational state and
// enables a bridge port in the same deferred step (linkwatch, which needs
// the rtnl lock), so until then a bridge drops frames from the port. Under
// load, such as while the kernel removes the namespaces of an earlier lab,
// that step can lag by hundreds of milliseconds.
func (l *lab) waitPortsReady(ctx context.Context) error {
	want := map[string]bool{uplinkName: true}
	for _, c := range l.plan.Containers {
		for _, i := range c.Interfaces {
			want[i.HostVeth] = true
		}
	}
	h, err := routeHandle(l.hostFd)
	if err != nil {
		return fmt.Errorf("lab host: %w", err)
	}
	defer h.Close()
	deadline := time.Now().Add(portsReadyTimeout)
	for delay := 100 * time.Microsecond; ; delay = min(2*delay, 10*time.Millisecond) {
		links, err := h.LinkList()
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return fmt.Errorf("listing lab host links: %w", err)
		}
		var down []string
		for _, link := range links {
			a := link.Attrs()
			if want[a.Name] && a.OperState != netlink.OperUp {
				down = append(down, a.Name)
			}
		}
		if len(down) == 0 && err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("links %v of the lab host did not come up within %v", down, portsReadyTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}
