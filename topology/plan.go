package topology

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

var defaultBridgeSubnet = netip.MustParsePrefix("172.17.0.0/16")

// defaultPools are Docker's default address pools in order, as
// libnetwork/ipamutils lists them: each base prefix is split into subnets of
// the given size. The default bridge takes the first, 172.17.0.0/16.
var defaultPools = []struct {
	base netip.Prefix
	size int
}{
	{netip.MustParsePrefix("172.17.0.0/16"), 16},
	{netip.MustParsePrefix("172.18.0.0/16"), 16},
	{netip.MustParsePrefix("172.19.0.0/16"), 16},
	{netip.MustParsePrefix("172.20.0.0/14"), 16},
	{netip.MustParsePrefix("172.24.0.0/14"), 16},
	{netip.MustParsePrefix("172.28.0.0/14"), 16},
	{netip.MustParsePrefix("192.168.0.0/16"), 20},
}

// overlayPool is the swarm default address pool: 10.0.0.0/8 in /24s.
var overlayPool = netip.MustParsePrefix("10.0.0.0/8")

// ephemeralPortStart and ephemeralPortEnd bound the host ports Docker picks
// for a published port without a host port: Linux's default
// net.ipv4.ip_local_port_range, which Docker reads.
const (
	ephemeralPortStart = 32768
	ephemeralPortEnd   = 60999
)

// PlanTopology decides every subnet, address, name and port binding of t,
// the way Docker Engine would for the same networks created and containers
// started in file order. It is pure: the same topology gives the same plan.
// Problems only planning can find, such as an exhausted address pool, are an
// ErrorList like the loader's.
func PlanTopology(t *Topology) (*Plan, error) {
	d := &diagnostics{file: t.File}
	p := &Plan{
		Lab:      t.Name,
		Uplink:   UplinkPrefix,
		Router:   OutsideRouter,
		Outside:  t.Outside,
		Topology: t,
	}
	planNetworks(t, p, d)
	if err := d.err(); err != nil {
		return nil, err
	}
	// Index what is planned so far, so that lookups by name stay cheap in
	// files of many networks and containers. planContainers looks up only
	// networks.
	p.BuildIndex()
	planContainers(t, p, d)
	p.BuildIndex()
	planPorts(t, p, d)
	checkViaAddresses(t, p, d)
	if err := d.err(); err != nil {
		return nil, err
	}
	p.BuildIndex()
	return p, nil
}

// checkViaAddresses rejects a probe or expectation whose via address is a
// literal that belongs to no node of the lab. Such a probe would leave the
// lab: the docker runtime's containers route through this machine's real
// uplink.
func checkViaAddresses(t *Topology, p *Plan, d *diagnostics) {
	own := map[netip.Addr]bool{p.Uplink.Addr(): true, p.Router: true}
	for _, a := range p.HostAddresses() {
		own[a] = true
	}
	for _, o := range p.Outside {
		own[o.Address] = true
	}
	for _, c := range p.Containers {
		for _, i := range c.Interfaces {
			own[i.Address.Addr()] = true
		}
	}
	check := func(spec ProbeSpec, field string) {
		host, _, ok := strings.Cut(spec.Via, ":")
		if !ok {
			return
		}
		a, err := netip.ParseAddr(host)
		if err != nil || a.IsLoopback() || own[a] {
			return
		}
		d.add(spec.Pos, field+".via", "use uplink, gateway, localhost or an address of the lab's host, containers or outside hosts",
			"via address %s is not an address of this lab; topolab sends only to the lab's own addresses", a)
	}
	for i, s := range t.Probes {
		check(s, fmt.Sprintf("probes[%d]", i))
	}
	for i, x := range t.Expect {
		check(x.ProbeSpec, fmt.Sprintf("expect[%d]", i))
	}
}

// hashID returns a deterministic 64-hex-digit ID for an object of a lab, in
// the shape of a Docker object ID.
func hashID(lab, kind, name string) string {
	sum := sha256.Sum256([]byte("topolab\x00" + lab + "\x00" + kind + "\x00" + name))
	return hex.EncodeToString(sum[:])
}

func planNetworks(t *Topology, p *Plan, d *diagnostics) {
	def := &PlannedNetwork{
		Name:    DefaultBridge,
		Driver:  DriverBridge,
		ID:      hashID(t.Name, "network", DefaultBridge),
		Bridge:  "docker0",
		Subnet:  defaultBridgeSubnet,
		Gateway: defaultBridgeSubnet.Addr().Next(),
		ICC:     true,
		Default: true,
	}
	p.Networks = append(p.Networks, def)

	// Explicit subnets are reserved before any pool is handed out, so a
	// network later in the file keeps the subnet it asks for.
	taken := []netip.Prefix{def.Subnet}
	pools := poolCursor{}
	for _, n := range t.Networks {
		if n.Subnet.IsValid() {
			taken = append(taken, n.Subnet)
		}
	}
	for _, n := range t.Networks {
		pn := &PlannedNetwork{
			Name:     n.Name,
			Driver:   n.Driver,
			ID:       hashID(t.Name, "network", n.Name),
			Subnet:   n.Subnet,
			Gateway:  n.Gateway,
			Internal: n.Internal,
			ICC:      n.ICC,
			Options:  n.Options,
		}
		if pn.Driver == DriverBridge {
			pn.Bridge = "br-" + pn.ID[:12]
			if name := n.Options["com.docker.network.bridge.name"]; name != "" {
				pn.Bridge = name
			}
		}
		if !pn.Subnet.IsValid() {
			subnet, ok := pools.next(pn.Driver, taken)
			if !ok {
				d.add(n.Pos, "networks."+n.Name, "give the network an explicit subnet: outside 172.16.0.0/12 and 192.168.0.0/16, or use fewer networks",
					"could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
				continue
			}
			pn.Subnet = subnet
			taken = append(taken, subnet)
		}
		if !pn.Gateway.IsValid() {
			pn.Gateway = pn.Subnet.Addr().Next()
		}
		p.Networks = append(p.Networks, pn)
	}
	seenBridge := map[string]string{}
	for _, pn := range p.Networks {
		if pn.Bridge == "" {
			continue
		}
		if other, dup := seenBridge[pn.Bridge]; dup {
			n := t.Network(pn.Name)
			d.add(n.Pos, "networks."+pn.Name+".options.com.docker.network.bridge.name", "choose another bridge name",
				"bridge device %s is already used by network %s", pn.Bridge, other)
		}
		seenBridge[pn.Bridge] = pn.Name
	}
}

// poolCursor finds the first default-pool subnet that overlaps none taken.
// Because taken subnets are never given back during planning, it remembers
// per pool the first candidate not yet seen taken, so that planning many
// networks stays linear in the candidates.
type poolCursor map[netip.Prefix]netip.Prefix

func (pc poolCursor) next(driver string, taken []netip.Prefix) (netip.Prefix, bool) {
	free := func(c netip.Prefix) bool {
		for _, t := range taken {
			if t.Overlaps(c) {
				return false
			}
		}
		return true
	}
	search := func(base netip.Prefix, size int) (netip.Prefix, bool) {
		c, ok := pc[base]
		if !ok {
			c = netip.PrefixFrom(base.Addr(), size)
		}
		for ; base.Contains(c.Addr()); c = nextPrefix(c) {
			if free(c) {
				pc[base] = c
				return c, true
			}
		}
		pc[base] = c
		return netip.Prefix{}, false
	}
	if driver == DriverOverlay {
		return search(overlayPool, 24)
	}
	for _, pool := range defaultPools {
		if c, ok := search(pool.base, pool.size); ok {
			return c, true
		}
	}
	return netip.Prefix{}, false
}

// nextPrefix returns the prefix of the same length right after p; it wraps
// to 0.0.0.0 after the last one, which ends the callers' loops.
func nextPrefix(p netip.Prefix) netip.Prefix {
	next := lastAddr(p).Next()
	if !next.IsValid() {
		next = netip.IPv4Unspecified()
	}
	return netip.PrefixFrom(next, p.Bits())
}

// addressBook hands out addresses per network, lowest free first, as
// Docker's default IPAM does.
type addressBook struct {
	used map[string]map[netip.Addr]bool
	// cursor is, per network, an address at or below its lowest free one.
	// Planning never frees an address, so the lowest free one only grows.
	cursor map[string]netip.Addr
}

func (b *addressBook) reserve(network string, a netip.Addr) {
	if b.used[network] == nil {
		b.used[network] = map[netip.Addr]bool{}
	}
	b.used[network][a] = true
}

func (b *addressBook) next(n *PlannedNetwork) (netip.Addr, bool) {
	last := lastAddr(n.Subnet)
	a, ok := b.cursor[n.Name]
	if !ok {
		a = n.Subnet.Addr().Next()
	}
	for ; a.IsValid() && a.Less(last); a = a.Next() {
		if !b.used[n.Name][a] {
			b.reserve(n.Name, a)
			b.cursor[n.Name] = a.Next()
			return a, true
		}
	}
	b.cursor[n.Name] = last
	return netip.Addr{}, false
}

func planContainers(t *Topology, p *Plan, d *diagnostics) {
	book := &addressBook{used: map[string]map[netip.Addr]bool{}, cursor: map[string]netip.Addr{}}
	for _, n := range p.Networks {
		book.reserve(n.Name, n.Subnet.Addr())
		book.reserve(n.Name, lastAddr(n.Subnet))
		book.reserve(n.Name, n.Gateway)
	}
	for _, c := range t.Containers {
		for _, a := range c.Networks {
			if !a.IPv4Address.IsValid() {
				continue
			}
			n := p.Network(a.Network)
			field := fmt.Sprintf("containers.%s.networks.%s.ipv4_address", c.Name, a.Network)
			if tn := t.Network(a.Network); tn != nil && !tn.Subnet.IsValid() {
				validateStaticAddress(d, a.Pos, field, a, n.Subnet, n.Gateway)
			}
			book.reserve(a.Network, a.IPv4Address)
		}
	}

	for _, c := range t.Containers {
		pc := &PlannedContainer{
			Name:       c.Name,
			ID:         hashID(t.Name, "container", c.Name),
			Image:      c.Image,
			Mode:       c.NetworkMode,
			ModeTarget: c.ModeTarget,
			Listen:     c.Listen,
			Resolver:   OutsideRouter,
		}
		pc.ShortID = pc.ID[:12]
		pc.Hostname = c.Hostname
		if pc.Hostname == "" {
			pc.Hostname = pc.ShortID
		}
		attachments := c.Networks
		if len(attachments) == 0 && c.NetworkMode == ModeBridge {
			attachments = []*Attachment{{Network: DefaultBridge, Pos: c.Pos}}
		}
		for i, a := range attachments {
			n := p.Network(a.Network)
			addr := a.IPv4Address
			if !addr.IsValid() {
				var ok bool
				if addr, ok = book.next(n); !ok {
					d.add(a.Pos, fmt.Sprintf("containers.%s.networks.%s", c.Name, a.Network),
						"give the network a larger subnet",
						"no available addresses on network %s (%s is full)", n.Name, n.Subnet)
					continue
				}
			}
			pc.Interfaces = append(pc.Interfaces, planInterface(pc, n, a, addr, i))
		}
		pc.Gateway = chooseGateway(p, pc.Interfaces)
		if pc.Gateway != nil {
			pc.GatewayInterface = pc.Gateway.Name
		}
		for _, i := range pc.Interfaces {
			if i.Network != DefaultBridge {
				pc.Resolver = EmbeddedDNS
				break
			}
		}
		p.Containers = append(p.Containers, pc)
	}
	// A container-mode container uses its target's resolver, like it uses
	// its target's namespace.
	owners := netnsOwners(p)
	for _, pc := range p.Containers {
		if owner := owners[pc.Name]; owner != nil && owner != pc {
			pc.Resolver = owner.Resolver
		}
	}
}

// netnsOwners returns Plan.NetnsOwner of every container by name, in time
// linear in the number of containers. A chain that loops or names an
// unknown container has no owner.
func netnsOwners(p *Plan) map[string]*PlannedContainer {
	byName := make(map[string]*PlannedContainer, len(p.Containers))
	for _, pc := range p.Containers {
		byName[pc.Name] = pc
	}
	owners := make(map[string]*PlannedContainer, len(p.Containers))
	visiting := map[string]bool{}
	var owner func(pc *PlannedContainer) *PlannedContainer
	owner = func(pc *PlannedContainer) *PlannedContainer {
		if o, done := owners[pc.Name]; done {
			return o
		}
		var o *PlannedContainer
		switch pc.Mode {
		case ModeHost:
		case ModeContainer:
			if target := byName[pc.ModeTarget]; target != nil && !visiting[pc.Name] {
				visiting[pc.Name] = true
				o = owner(target)
			}
		default:
			o = pc
		}
		owners[pc.Name] = o
		return o
	}
	for _, pc := range p.Containers {
		owner(pc)
	}
	return owners
}

func planInterface(pc *PlannedContainer, n *PlannedNetwork, a *Attachment, addr netip.Addr, index int) *Interface {
	prefix := "eth"
	if v := n.Options["com.docker.network.container_iface_prefix"]; v != "" {
		prefix = v
	}
	sum := sha256.Sum256([]byte(pc.ID + "\x00" + n.ID))
	mac := sum[:6]
	mac[0] = (mac[0] &^ 0x01) | 0x02 // unicast, locally administered
	i := &Interface{
		Name:       prefix + strconv.Itoa(index),
		Network:    n.Name,
		Address:    netip.PrefixFrom(addr, n.Subnet.Bits()),
		MAC:        fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]),
		HostVeth:   "veth" + hex.EncodeToString(sum[6:10])[:7],
		Aliases:    a.Aliases,
		GwPriority: a.GwPriority,
	}
	if n.UserDefined() {
		i.DNSNames = dnsNames(pc, a.Aliases)
	}
	return i
}

// dnsNames lists the names Docker registers for an endpoint on a
// user-defined network: the container name, its aliases, the short ID and
// the hostname, without repeats.
func dnsNames(pc *PlannedContainer, aliases []string) []string {
	var names []string
	add := func(s string) {
		if s != "" && !contains(names, s) {
			names = append(names, s)
		}
	}
	add(pc.Name)
	for _, a := range aliases {
		add(a)
	}
	add(pc.ShortID)
	add(pc.Hostname)
	return names
}

// chooseGateway orders the endpoints the way libnetwork's Endpoint.Less
// does (gw_priority descending, non-internal before internal, networks with
// a gateway first, then network name ascending) and returns the first one
// that can carry a default route. Internal networks never do.
func chooseGateway(p *Plan, ifaces []*Interface) *Interface {
	for _, i := range SortEndpoints(p, ifaces) {
		if n := p.Network(i.Network); !n.Internal && n.Gateway.IsValid() {
			return i
		}
	}
	return nil
}

// SortEndpoints returns ifaces in libnetwork's endpoint order, the order in
// which the embedded DNS server consults networks and in which the default
// gateway is chosen.
func SortEndpoints(p *Plan, ifaces []*Interface) []*Interface {
	sorted := append([]*Interface(nil), ifaces...)
	networks := make(map[string]*PlannedNetwork, len(ifaces))
	for _, i := range ifaces {
		networks[i.Network] = p.Network(i.Network)
	}
	sort.SliceStable(sorted, func(a, b int) bool {
		ia, ib := sorted[a], sorted[b]
		na, nb := networks[ia.Network], networks[ib.Network]
		if ia.GwPriority != ib.GwPriority {
			return ia.GwPriority > ib.GwPriority
		}
		if na.Internal != nb.Internal {
			return !na.Internal
		}
		if na.Gateway.IsValid() != nb.Gateway.IsValid() {
			return na.Gateway.IsValid()
		}
		return na.Name < nb.Name
	})
	return sorted
}

// HostAddresses returns the Docker host's own IPv4 addresses in the lab:
// loopback, the uplink and each bridge network's gateway.
func (p *Plan) HostAddresses() []netip.Addr {
	addrs := []netip.Addr{Localhost, p.Uplink.Addr()}
	for _, n := range p.Networks {
		if n.Bridge != "" {
			addrs = append(addrs, n.Gateway)
		}
	}
	return addrs
}

func planPorts(t *Topology, p *Plan, d *diagnostics) {
	alloc := newPortAllocator()
	// Host ports the file names are reserved before any ephemeral port is
	// chosen, so an ephemeral port never takes one that a later container
	// asks for. Docker, starting containers one by one, would instead fail
	// on the later container.
	for _, c := range t.Containers {
		if pc := p.Container(c.Name); pc == nil || pc.Gateway == nil {
			continue
		}
		for _, ps := range c.Ports {
			if ps.HostPort != 0 {
				alloc.mark(bindAddr(ps), ps.Proto, ps.HostPort)
			}
		}
	}
	hostAddrs := map[netip.Addr]bool{}
	for _, a := range p.HostAddresses() {
		hostAddrs[a] = true
	}
	for _, c := range t.Containers {
		pc := p.Container(c.Name)
		if len(c.Ports) == 0 {
			continue
		}
		if pc.Gateway == nil {
			p.Warnings = append(p.Warnings, fmt.Sprintf(
				"ports of %s are not published: it has no default gateway, because its networks are internal", c.Name))
			continue
		}
		pc.Ports = make([]PortBinding, 0, len(c.Ports))
		field := fmt.Sprintf("containers.%s.ports", c.Name)
		// failed is the position of an entry already reported, so that a
		// range whose ports run out gives one error, not one per port.
		var failed Pos
		for _, ps := range c.Ports {
			if failed.Line > 0 && ps.Pos == failed {
				continue
			}
			hostIP := bindAddr(ps)
			if ps.HostIP.IsValid() && !hostAddrs[hostIP] {
				d.add(ps.Pos, field,
					"use 127.0.0.1, 192.0.2.10 (the uplink) or a bridge gateway, or leave the address out",
					"host address %s is not an address of the Docker host (Docker: cannot assign requested address)", hostIP)
				failed = ps.Pos
				continue
			}
			hostPort := ps.HostPort
			if hostPort == 0 {
				var ok bool
				if hostPort, ok = alloc.ephemeral(hostIP, ps.Proto); !ok {
					d.add(ps.Pos, field, "publish fewer ports without a host port, or give them host ports",
						"all ports are allocated: no free host port from %d to %d for %s/%s",
						ephemeralPortStart, ephemeralPortEnd, hostIP, ps.Proto)
					failed = ps.Pos
					continue
				}
			}
			pc.Ports = append(pc.Ports, PortBinding{
				HostIP:        hostIP,
				HostPort:      hostPort,
				ContainerIP:   pc.Gateway.Address.Addr(),
				ContainerPort: ps.ContainerPort,
				Proto:         ps.Proto,
				Network:       pc.Gateway.Network,
			})
		}
	}
}

// bindAddr returns the host address of a published port: its HostIP, or
// 0.0.0.0 when the port is published on every address.
func bindAddr(ps PortSpec) netip.Addr {
	if ps.HostIP.IsValid() {
		return ps.HostIP
	}
	return netip.IPv4Unspecified()
}

// portAllocator chooses host ports the way Docker's port allocator does. A
// port on a specific address must be free on that address and on 0.0.0.0;
// a port on 0.0.0.0 must be free on every address. An ephemeral port is the
// first free one after the last ephemeral port given out for the same
// address and protocol, wrapping around at the end of the range, so TCP and
// UDP count separately.
type portAllocator struct {
	used map[netip.Addr]map[string]map[uint16]bool
	last map[netip.Addr]map[string]uint16
	// exhausted records address and protocol pairs whose search failed;
	// ports are never freed while planning, so it would fail again.
	exhausted map[netip.Addr]map[string]bool
}

func newPortAllocator() *portAllocator {
	return &portAllocator{
		used:      map[netip.Addr]map[string]map[uint16]bool{},
		last:      map[netip.Addr]map[string]uint16{},
		exhausted: map[netip.Addr]map[string]bool{},
	}
}

func (a *portAllocator) free(addr netip.Addr, proto string, port uint16) bool {
	if addr.IsUnspecified() {
		for _, protos := range a.used {
			if protos[proto][port] {
				return false
			}
		}
		return true
	}
	return !a.used[addr][proto][port] && !a.used[netip.IPv4Unspecified()][proto][port]
}

func (a *portAllocator) mark(addr netip.Addr, proto string, port uint16) {
	if a.used[addr] == nil {
		a.used[addr] = map[string]map[uint16]bool{}
	}
	if a.used[addr][proto] == nil {
		a.used[addr][proto] = map[uint16]bool{}
	}
	a.used[addr][proto][port] = true
}

func (a *portAllocator) ephemeral(addr netip.Addr, proto string) (uint16, bool) {
	if a.exhausted[addr][proto] {
		return 0, false
	}
	if a.last[addr] == nil {
		a.last[addr] = map[string]uint16{}
	}
	port, ok := a.last[addr][proto]
	if !ok {
		port = ephemeralPortEnd
	}
	for range ephemeralPortEnd - ephemeralPortStart + 1 {
		port++
		if port > ephemeralPortEnd {
			port = ephemeralPortStart
		}
		if a.free(addr, proto, port) {
			a.mark(addr, proto, port)
			a.last[addr][proto] = port
			return port, true
		}
	}
	if a.exhausted[addr] == nil {
		a.exhausted[addr] = map[string]bool{}
	}
	a.exhausted[addr][proto] = true
	return 0, false
}
