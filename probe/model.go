package probe

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/topolab/topolab/topology"
)

// Model indexes a plan for prediction and target resolution: which node owns
// each address, which namespace each container uses, which ports listen.
// It is read-only after NewModel and safe for concurrent use.
type Model struct {
	Plan *topology.Plan

	owners map[netip.Addr]addrOwner
	// listen maps a namespace owner (a container name, or "" for the Docker
	// host) to the ports that listen in that namespace.
	listen map[string][]topology.Listen
	// listenOwners names, per namespace and port, the container whose
	// server listens there.
	listenOwners map[string]map[topology.Listen]string
}

type ownerKind int

const (
	ownerContainer ownerKind = iota + 1
	ownerGateway             // a bridge network's gateway: the Docker host
	ownerUplink              // the Docker host's uplink address
	ownerRouter              // the outside router
	ownerOutside             // an outside host
)

// addrOwner is the node, or the part of the Docker host, that holds an
// address of the lab.
type addrOwner struct {
	kind ownerKind
	// node is the container or outside host name; empty for host addresses.
	node    string
	network string
}

// NewModel indexes plan.
func NewModel(plan *topology.Plan) *Model {
	m := &Model{
		Plan:         plan,
		owners:       map[netip.Addr]addrOwner{},
		listen:       map[string][]topology.Listen{},
		listenOwners: map[string]map[topology.Listen]string{},
	}
	m.owners[plan.Uplink.Addr()] = addrOwner{kind: ownerUplink}
	m.owners[plan.Router] = addrOwner{kind: ownerRouter}
	for _, o := range plan.Outside {
		m.owners[o.Address] = addrOwner{kind: ownerOutside, node: o.Name}
	}
	for _, n := range plan.Networks {
		if m.hostOwnsGateway(n) {
			m.owners[n.Gateway] = addrOwner{kind: ownerGateway, network: n.Name}
		}
	}
	for _, c := range plan.Containers {
		for _, i := range c.Interfaces {
			m.owners[i.Address.Addr()] = addrOwner{kind: ownerContainer, node: c.Name, network: i.Network}
		}
	}
	for _, c := range plan.Containers {
		ns := m.namespace(c)
		for _, l := range c.Listen {
			m.listen[ns] = append(m.listen[ns], l)
			if m.listenOwners[ns] == nil {
				m.listenOwners[ns] = map[topology.Listen]string{}
			}
			m.listenOwners[ns][l] = c.Name
		}
	}
	return m
}

// hostOwnsGateway reports whether the Docker host holds a network's gateway
// address. It does for bridge networks; macvlan and ipvlan gateways are
// routers on the parent's link, not the host.
func (m *Model) hostOwnsGateway(n *topology.PlannedNetwork) bool {
	return n.Driver == topology.DriverBridge || n.Driver == topology.DriverOverlay
}

// namespace returns the name of the container whose network namespace c
// uses, or "" for the Docker host's.
func (m *Model) namespace(c *topology.PlannedContainer) string {
	if c.Mode == topology.ModeHost {
		return ""
	}
	owner := m.Plan.NetnsOwner(c)
	if owner == nil {
		// Host mode at the end of a container: chain.
		return ""
	}
	return owner.Name
}

// endpoint is the source of a probe: its namespace and source address.
type endpoint struct {
	node string
	kind topology.NodeKind
	// ns is the owner container of the namespace, "" for the Docker host;
	// outside hosts use their own address instead.
	ns string
	// container is the namespace owner's plan, nil for the host and outside.
	container *topology.PlannedContainer
	// addr is the bound source address of an outside host.
	addr netip.Addr
}

func (m *Model) endpointOf(node string) (endpoint, error) {
	if node == topology.HostNode {
		return endpoint{node: node, kind: topology.NodeHost}, nil
	}
	if c := m.Plan.Container(node); c != nil {
		ns := m.namespace(c)
		e := endpoint{node: node, kind: topology.NodeContainer, ns: ns}
		if ns != "" {
			e.container = m.Plan.Container(ns)
		}
		return e, nil
	}
	for _, o := range m.Plan.Outside {
		if o.Name == node {
			return endpoint{node: node, kind: topology.NodeOutside, addr: o.Address}, nil
		}
	}
	return endpoint{}, fmt.Errorf("unknown node %q", node)
}

// onHost reports whether e runs in the Docker host's namespace: the host
// itself or a container in host network mode.
func (e endpoint) onHost() bool { return e.kind != topology.NodeOutside && e.container == nil }

// describe names an endpoint in reasons: "alpine1", or "sidecar (host
// network mode)".
func (e endpoint) describe() string {
	switch {
	case e.kind == topology.NodeContainer && e.container == nil:
		return e.node + " (host network mode)"
	case e.kind == topology.NodeContainer && e.container.Name != e.node:
		return fmt.Sprintf("%s (in %s's namespace)", e.node, e.container.Name)
	}
	return e.node
}

// ListenPorts returns the ports that listen in the namespace of node, in
// plan order. The host's namespace holds the servers of host-mode containers.
func (m *Model) ListenPorts(node string) []topology.Listen {
	e, err := m.endpointOf(node)
	if err != nil || e.kind == topology.NodeOutside {
		return nil
	}
	return m.listen[e.ns]
}

// listener returns the container serving l in namespace ns, or "".
func (m *Model) listener(ns string, l topology.Listen) string {
	return m.listenOwners[ns][l]
}

// ResolveName returns the addresses that node's resolver returns for name,
// with a sentence explaining the answer. No addresses means the name does
// not resolve. It follows Docker's embedded DNS on user-defined networks and
// the host's upstream resolver elsewhere.
func (m *Model) ResolveName(node, name string) ([]netip.Addr, string) {
	e, err := m.endpointOf(node)
	if err != nil {
		return nil, err.Error()
	}
	if e.kind == topology.NodeOutside {
		return m.upstream(name, node+" asks the outside DNS server")
	}
	if e.onHost() {
		return m.upstream(name, e.describe()+" uses the Docker host's resolver, the outside router")
	}
	c := e.container
	if len(c.Interfaces) == 0 {
		return nil, fmt.Sprintf("%s has network mode none: no interface reaches a DNS server, so %s does not resolve",
			e.describe(), name)
	}
	if c.Resolver != topology.EmbeddedDNS {
		return m.upstreamFromBridge(e, name)
	}
	lower := strings.ToLower(name)
	for _, iface := range topology.SortEndpoints(m.Plan, c.Interfaces) {
		n := m.Plan.Network(iface.Network)
		if !n.UserDefined() {
			continue
		}
		if addrs := m.networkNames(n.Name, lower); len(addrs) > 0 {
			return addrs, fmt.Sprintf("%s's embedded DNS (127.0.0.11) answers %s from %s, a network %s is on",
				e.describe(), name, n.Name, e.describe())
		}
	}
	if !m.hasExternalAccess(c) {
		return nil, fmt.Sprintf("%s is only on internal networks, so Docker's embedded DNS does not forward %s upstream and answers SERVFAIL",
			e.describe(), name)
	}
	addrs, why := m.upstream(name, "")
	if len(addrs) == 0 {
		return nil, fmt.Sprintf("no network %s shares has a container named %s, and the upstream resolver answers NXDOMAIN",
			e.describe(), name)
	}
	return addrs, fmt.Sprintf("%s's embedded DNS forwards %s to the upstream resolver, %s", e.describe(), name, why)
}

func (m *Model) upstreamFromBridge(e endpoint, name string) ([]netip.Addr, string) {
	addrs, _ := m.upstream(name, "")
	if len(addrs) > 0 {
		return addrs, fmt.Sprintf("%s is only on the default bridge, so it asks the host's upstream resolver, which knows %s",
			e.describe(), name)
	}
	if m.isContainerName(name) {
		return nil, fmt.Sprintf("%s is only on the default bridge, which has no embedded DNS, so container name %s does not resolve",
			e.describe(), name)
	}
	return nil, fmt.Sprintf("%s asks the host's upstream resolver, which answers NXDOMAIN for %s", e.describe(), name)
}

// upstream resolves name at the outside DNS server, which knows only the
// outside hosts.
func (m *Model) upstream(name, prefix string) ([]netip.Addr, string) {
	for _, o := range m.Plan.Outside {
		if strings.EqualFold(o.Name, name) {
			why := "which knows " + o.Name
			if prefix != "" {
				why = prefix + ", " + why
			}
			return []netip.Addr{o.Address}, why
		}
	}
	why := "which answers NXDOMAIN for " + name
	if m.isContainerName(name) {
		why = "which knows no container names, so " + name + " does not resolve"
	}
	if prefix != "" {
		why = prefix + ", " + why
	}
	return nil, why
}

func (m *Model) isContainerName(name string) bool {
	for _, c := range m.Plan.Containers {
		if strings.EqualFold(c.Name, name) {
			return true
		}
	}
	return false
}

// networkNames returns the addresses on network of every container that
// registers name there. Aliases are matched before container names, as
// Docker's resolver does; name.network matches too.
func (m *Model) networkNames(network, lower string) []netip.Addr {
	lower = strings.TrimSuffix(lower, "."+strings.ToLower(network))
	var byAlias, byName []netip.Addr
	for _, c := range m.Plan.Containers {
		iface := c.Interface(network)
		if iface == nil {
			continue
		}
		for _, a := range iface.Aliases {
			if strings.ToLower(a) == lower {
				byAlias = append(byAlias, iface.Address.Addr())
			}
		}
		for _, n := range iface.DNSNames {
			if strings.ToLower(n) == lower && !containsAddr(byAlias, iface.Address.Addr()) {
				byName = append(byName, iface.Address.Addr())
				break
			}
		}
	}
	if len(byAlias) > 0 {
		return byAlias
	}
	return byName
}

// hasExternalAccess follows libnetwork's Sandbox.hasExternalAccess: any
// endpoint on a network that is not internal.
func (m *Model) hasExternalAccess(c *topology.PlannedContainer) bool {
	for _, i := range c.Interfaces {
		if !m.Plan.Network(i.Network).Internal {
			return true
		}
	}
	return false
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, v := range list {
		if v == a {
			return true
		}
	}
	return false
}
