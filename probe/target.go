package probe

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/topolab/topolab/topology"
)

// TargetOf decides where spec goes: the address for by-ip and via probes,
// the name for by-name probes, and the port. Predictions and runs both use
// it, so they always try the same address.
func (m *Model) TargetOf(spec topology.ProbeSpec) (Target, error) {
	t := Target{Node: spec.To}
	if spec.Via != "" {
		return m.viaTarget(spec, t)
	}
	if spec.By == topology.ByName || spec.Kind == topology.KindDNS {
		t.Name = spec.Name
		if t.Name == "" {
			t.Name = spec.To
		}
	} else {
		addr, network, err := m.addressOf(spec.From, spec.To, spec.Network)
		if err != nil {
			return t, err
		}
		t.Address, t.Network = addr, network
	}
	port, err := m.portOf(spec)
	if err != nil {
		return t, err
	}
	t.Port = port
	return t, nil
}

func (m *Model) viaTarget(spec topology.ProbeSpec, t Target) (Target, error) {
	host, portText, _ := strings.Cut(spec.Via, ":")
	port, err := strconv.Atoi(portText)
	if err != nil {
		return t, fmt.Errorf("invalid via %q", spec.Via)
	}
	t.Port = uint16(port)
	src, err := m.endpointOf(spec.From)
	if err != nil {
		return t, err
	}
	switch host {
	case "localhost":
		t.Address = topology.Localhost
	case "uplink":
		t.Address = m.Plan.Uplink.Addr()
	case "gateway":
		t.Address = m.gatewayOf(src)
		if !t.Address.IsValid() {
			return t, fmt.Errorf("%s has no default gateway for via %q", spec.From, spec.Via)
		}
	default:
		t.Address, err = netip.ParseAddr(host)
		if err != nil {
			return t, fmt.Errorf("invalid via address %q", host)
		}
	}
	return t, nil
}

// gatewayOf returns the default gateway of a probe source: a container's
// gateway network's gateway, or the outside router for the host and the
// outside hosts.
func (m *Model) gatewayOf(e endpoint) netip.Addr {
	if e.container != nil {
		if e.container.Gateway == nil {
			return netip.Addr{}
		}
		return m.Plan.Network(e.container.Gateway.Network).Gateway
	}
	return m.Plan.Router
}

// addressOf returns the address of node "to" that a by-ip probe from "from"
// tries: its address on network when given, else on the first of its
// networks that the source shares, else its first address.
func (m *Model) addressOf(from, to, network string) (netip.Addr, string, error) {
	if o := outsideHost(m.Plan, to); o != nil {
		return o.Address, "", nil
	}
	src, err := m.endpointOf(from)
	if err != nil {
		return netip.Addr{}, "", err
	}
	if to == topology.HostNode {
		if gw := m.gatewayOf(src); gw.IsValid() && src.container != nil {
			return gw, src.container.Gateway.Network, nil
		}
		return m.Plan.Uplink.Addr(), "", nil
	}
	c := m.Plan.Container(to)
	if c == nil {
		return netip.Addr{}, "", fmt.Errorf("unknown node %q", to)
	}
	dst, _ := m.endpointOf(to)
	if dst.onHost() {
		// A host-mode container has the Docker host's addresses.
		return m.addressOf(from, topology.HostNode, "")
	}
	owner := dst.container
	if len(owner.Interfaces) == 0 {
		return netip.Addr{}, "", fmt.Errorf("%s has no address: its network mode is none", to)
	}
	if network != "" {
		if i := owner.Interface(network); i != nil {
			return i.Address.Addr(), network, nil
		}
		return netip.Addr{}, "", fmt.Errorf("%s is not attached to network %s", to, network)
	}
	if src.container != nil {
		for _, i := range owner.Interfaces {
			if src.container.Interface(i.Network) != nil {
				return i.Address.Addr(), i.Network, nil
			}
		}
	}
	first := owner.Interfaces[0]
	return first.Address.Addr(), first.Network, nil
}

func outsideHost(p *topology.Plan, name string) *topology.OutsideHost {
	for _, o := range p.Outside {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// OutsideHTTPPort is the port on which every outside host serves HTTP.
const OutsideHTTPPort = 80

// portOf returns the port of a probe: the spec's, else the target's first
// listen port of the probe's protocol, else 80 for the outside hosts' HTTP.
func (m *Model) portOf(spec topology.ProbeSpec) (uint16, error) {
	switch spec.Kind {
	case topology.KindPing, topology.KindDNS:
		return 0, nil
	}
	if spec.Port != 0 {
		return uint16(spec.Port), nil
	}
	proto := protoOf(spec.Kind)
	for _, l := range m.ListenPorts(spec.To) {
		if l.Proto == proto {
			return l.Port, nil
		}
	}
	if outsideHost(m.Plan, spec.To) != nil && proto == "tcp" {
		return OutsideHTTPPort, nil
	}
	return 0, fmt.Errorf("%s probe to %s needs a port: %s listens on no %s port", spec.Kind, spec.To, spec.To, proto)
}

func protoOf(kind string) string {
	if kind == topology.KindUDP {
		return "udp"
	}
	return "tcp"
}
