package topology

import (
	"net/netip"
)

// Names of the networks that every Docker host has.
const (
	DefaultBridge = "bridge"
	HostNetwork   = "host"
	NoneNetwork   = "none"
)

// Network drivers a topology file may name.
const (
	DriverBridge  = "bridge"
	DriverMacvlan = "macvlan"
	DriverIPvlan  = "ipvlan"
	DriverOverlay = "overlay"
)

// Network modes of a container, as docker run --network takes them.
const (
	ModeBridge    = ""          // attached to bridge-like networks (the default)
	ModeHost      = "host"      // shares the Docker host's namespace
	ModeNone      = "none"      // loopback only
	ModeContainer = "container" // shares another container's namespace
)

// Pos is a position in a topology file. Line and Column start at 1; a zero
// Pos means the value has no place in the file (a default).
type Pos struct {
	Line   int
	Column int
}

// Topology is a loaded and validated topology file.
type Topology struct {
	Name string
	// File is the path or fixture name the topology was loaded from, used in
	// error messages.
	File string

	// Networks are the user-defined networks in file order. The predefined
	// bridge, host and none networks are not listed.
	Networks   []*Network
	Containers []*Container
	Outside    []*OutsideHost
	Probes     []ProbeSpec
	Expect     []Expectation
}

// Network is a user-defined network, as docker network create makes it.
type Network struct {
	Name   string
	Driver string
	// Subnet and Gateway are zero when the file leaves them to the planner.
	Subnet   netip.Prefix
	Gateway  netip.Addr
	Internal bool
	ICC      bool
	Options  map[string]string
	Pos      Pos
}

// Container is a container of the topology file.
type Container struct {
	Name     string
	Image    string
	Hostname string
	// Networks are the attachments in file order; the first becomes eth0.
	// A container that names no networks and no network_mode is attached to
	// the default bridge, as docker run does.
	Networks []*Attachment
	// NetworkMode is ModeBridge, ModeHost, ModeNone or ModeContainer.
	NetworkMode string
	// ModeTarget is the container whose namespace a ModeContainer container
	// shares.
	ModeTarget string
	Ports      []PortSpec
	Listen     []Listen
	Pos        Pos
	ModePos    Pos
}

// Attachment is a container's endpoint on one network.
type Attachment struct {
	Network     string
	Aliases     []string
	IPv4Address netip.Addr
	GwPriority  int
	Pos         Pos
}

// PortSpec is one published port, as docker run -p writes it, with ranges
// already expanded to single ports.
type PortSpec struct {
	// HostIP is the zero Addr when the binding is on every host address.
	HostIP netip.Addr
	// HostPort is 0 when Docker picks an ephemeral port.
	HostPort      uint16
	ContainerPort uint16
	Proto         string
	// Raw is the text of the entry in the file.
	Raw string
	Pos Pos
}

// Listen is a server that a container runs on a port.
type Listen struct {
	Port  uint16 `json:"port"`
	Proto string `json:"proto"`
}

// OutsideHost is a host beyond the Docker host's uplink.
type OutsideHost struct {
	Name    string     `json:"name"`
	Address netip.Addr `json:"address"`
	Pos     Pos        `json:"-"`
}

// ProbeSpec is one probe: a source node trying to reach a target.
type ProbeSpec struct {
	From string
	To   string
	Kind string
	By   string
	// Network selects the target's address on that network.
	Network string
	// Name is resolved instead of the target's name.
	Name string
	// Port is 0 for the target's first listen port.
	Port int
	// Via is ADDRESS:PORT, where ADDRESS is a literal, "uplink", "gateway" or
	// "localhost".
	Via string
	Pos Pos
}

// Expectation is a probe with the result a test expects.
type Expectation struct {
	ProbeSpec
	// Result is a result word, or "fail" for any result but ok.
	Result string
	// ResolvesTo lists nodes whose addresses must be exactly the answer set.
	// Nil means no check; an empty non-nil list means no addresses.
	ResolvesTo []string
}

// Probe kinds.
const (
	KindPing = "ping"
	KindDNS  = "dns"
	KindHTTP = "http"
	KindTCP  = "tcp"
	KindUDP  = "udp"
)

// Ways of choosing a probe's target address.
const (
	ByIP   = "ip"
	ByName = "name"
)

// HostNode is the name of the Docker host as a probe source or target.
const HostNode = "host"

// Container returns the container with the given name, or nil.
func (t *Topology) Container(name string) *Container {
	for _, c := range t.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Network returns the user-defined network with the given name, or nil.
func (t *Topology) Network(name string) *Network {
	for _, n := range t.Networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// OutsideHost returns the outside host with the given name, or nil.
func (t *Topology) OutsideHost(name string) *OutsideHost {
	for _, o := range t.Outside {
		if o.Name == name {
			return o
		}
	}
	return nil
}
