package topology

import "net/netip"

// Addresses of the simulated Docker host uplink and the outside router. They
// are documentation addresses (RFC 5737), so a lab never sends to a real host.
var (
	UplinkPrefix  = netip.MustParsePrefix("192.0.2.10/24")
	OutsideRouter = netip.MustParseAddr("192.0.2.1")
	// EmbeddedDNS is the address of Docker's embedded DNS server inside every
	// container on a user-defined network.
	EmbeddedDNS = netip.MustParseAddr("127.0.0.11")
	Localhost   = netip.MustParseAddr("127.0.0.1")
)

// Plan is the deterministic result of planning a topology: every subnet,
// address, interface name, DNS name and port binding. Both runtimes build
// their labs from it. The same topology always gives the same plan.
type Plan struct {
	Lab string `json:"lab"`
	// Networks contains the default bridge first, then the user-defined
	// networks in file order. The host and none networks are not listed.
	Networks   []*PlannedNetwork   `json:"networks"`
	Containers []*PlannedContainer `json:"containers"`
	Outside    []*OutsideHost      `json:"outside"`
	// Uplink is the Docker host's address towards the outside.
	Uplink netip.Prefix `json:"uplink"`
	// Router is the outside router, the Docker host's default gateway and
	// upstream DNS server.
	Router netip.Addr `json:"router"`
	// Warnings lists what Docker would accept but ignore, such as ports
	// published by a container that has no default gateway.
	Warnings []string `json:"warnings,omitempty"`

	Topology *Topology `json:"-"`

	// Indexes by name, built by BuildIndex; nil until then, when the
	// lookups search the slices instead.
	networkIndex   map[string]*PlannedNetwork
	containerIndex map[string]*PlannedContainer
}

// BuildIndex indexes the networks and containers by name for Network and
// Container. PlanTopology calls it; call it again after changing the slices,
// such as after decoding a plan from JSON. It must not run concurrently with
// lookups.
func (p *Plan) BuildIndex() {
	p.networkIndex = make(map[string]*PlannedNetwork, len(p.Networks))
	for _, n := range p.Networks {
		p.networkIndex[n.Name] = n
	}
	p.containerIndex = make(map[string]*PlannedContainer, len(p.Containers))
	for _, c := range p.Containers {
		p.containerIndex[c.Name] = c
	}
}

// PlannedNetwork is a network with its subnet and Linux device decided.
type PlannedNetwork struct {
	Name   string `json:"name"`
	Driver string `json:"driver"`
	// ID is a deterministic 64-hex-digit network ID.
	ID string `json:"id"`
	// Bridge is the Linux bridge device: docker0 for the default bridge,
	// br-<first 12 hex digits of ID> for a user-defined bridge network, and
	// empty for other drivers.
	Bridge   string       `json:"bridge,omitempty"`
	Subnet   netip.Prefix `json:"subnet"`
	Gateway  netip.Addr   `json:"gateway"`
	Internal bool         `json:"internal"`
	ICC      bool         `json:"icc"`
	// Default is true only for the default bridge network.
	Default bool              `json:"default"`
	Options map[string]string `json:"options,omitempty"`
}

// UserDefined reports whether the network has Docker's embedded DNS and
// user-defined-network behaviour, which every network but the default bridge
// has.
func (n *PlannedNetwork) UserDefined() bool { return !n.Default }

// PlannedContainer is a container with its interfaces, gateway, names and
// port bindings decided.
type PlannedContainer struct {
	Name string `json:"name"`
	// ID is a deterministic 64-hex-digit container ID; ShortID is its first
	// 12 digits, which Docker also uses as the default hostname.
	ID       string `json:"id"`
	ShortID  string `json:"short_id"`
	Hostname string `json:"hostname"`
	Image    string `json:"image,omitempty"`
	// Mode is ModeBridge, ModeHost, ModeNone or ModeContainer; ModeTarget
	// names the container whose namespace a ModeContainer container shares.
	Mode       string `json:"mode,omitempty"`
	ModeTarget string `json:"mode_target,omitempty"`
	// Interfaces are eth0, eth1, ... in attachment order. Empty for host,
	// none and container modes.
	Interfaces []*Interface `json:"interfaces"`
	// Gateway is the interface that carries the default route, or nil when
	// the container has none (only internal networks, or no interfaces).
	Gateway *Interface `json:"-"`
	// GatewayInterface names Gateway for serialisation; empty when nil.
	GatewayInterface string `json:"gateway_interface,omitempty"`
	// Resolver is the DNS server in the container's resolv.conf:
	// EmbeddedDNS on a user-defined network, else the host's upstream.
	Resolver netip.Addr `json:"resolver"`
	// Ports are the published ports, bound on the Gateway interface.
	Ports  []PortBinding `json:"ports,omitempty"`
	Listen []Listen      `json:"listen,omitempty"`
}

// Interface is a container's endpoint on one network.
type Interface struct {
	// Name is the interface name inside the container, eth0 and up.
	Name    string `json:"name"`
	Network string `json:"network"`
	// Address is the container's address with the network's prefix length.
	Address netip.Prefix `json:"address"`
	MAC     string       `json:"mac"`
	// HostVeth is the name of the veth peer in the Docker host namespace.
	HostVeth   string   `json:"host_veth"`
	Aliases    []string `json:"aliases,omitempty"`
	GwPriority int      `json:"gw_priority,omitempty"`
	// DNSNames are the names the embedded DNS server answers with this
	// interface's address: container name, aliases, short ID, hostname.
	// Empty on the default bridge, which has no embedded DNS.
	DNSNames []string `json:"dns_names,omitempty"`
}

// PortBinding is a published port as the Docker host programs it.
type PortBinding struct {
	// HostIP is 0.0.0.0 for a binding on every host address.
	HostIP        netip.Addr `json:"host_ip"`
	HostPort      uint16     `json:"host_port"`
	ContainerIP   netip.Addr `json:"container_ip"`
	ContainerPort uint16     `json:"container_port"`
	Proto         string     `json:"proto"`
	// Network is the network of the gateway endpoint the port is bound on.
	Network string `json:"network"`
}

// Network returns the planned network with the given name, or nil.
func (p *Plan) Network(name string) *PlannedNetwork {
	if p.networkIndex != nil {
		return p.networkIndex[name]
	}
	for _, n := range p.Networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Container returns the planned container with the given name, or nil.
func (p *Plan) Container(name string) *PlannedContainer {
	if p.containerIndex != nil {
		return p.containerIndex[name]
	}
	for _, c := range p.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// NetnsOwner returns the container whose network namespace c uses: c itself,
// or for container mode the end of the chain of shared namespaces. It
// returns nil for host mode, whose namespace is the Docker host's.
func (p *Plan) NetnsOwner(c *PlannedContainer) *PlannedContainer {
	for seen := 0; c != nil && seen <= len(p.Containers); seen++ {
		switch c.Mode {
		case ModeHost:
			return nil
		case ModeContainer:
			c = p.Container(c.ModeTarget)
		default:
			return c
		}
	}
	return nil
}

// Interface returns c's interface on the named network, or nil.
func (c *PlannedContainer) Interface(network string) *Interface {
	for _, i := range c.Interfaces {
		if i.Network == network {
			return i
		}
	}
	return nil
}
