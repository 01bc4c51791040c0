package probe

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/topolab/topolab/topology"
)

// MaxDefaultProbes bounds the default probe set that ProbeSet accepts. The
// set grows with the square of the container count: a 50-container lab has
// about 11,000 probes, and a 500-container one about a million.
const MaxDefaultProbes = 50_000

// ErrTooManyProbes is returned by ProbeSet when the default probe set of a
// lab exceeds MaxDefaultProbes.
var ErrTooManyProbes = errors.New("default probe set too large")

// Probes returns the probes of a plan: the topology file's probes when it
// lists any, else DefaultProbes, however many that is.
func (m *Model) Probes() []topology.ProbeSpec {
	if t := m.Plan.Topology; t != nil && len(t.Probes) > 0 {
		return t.Probes
	}
	return m.DefaultProbes()
}

// ProbeSet returns Probes, or an error wrapping ErrTooManyProbes, which
// names the count and the fix, when the file lists no probes and the
// default set is larger than MaxDefaultProbes.
func (m *Model) ProbeSet() ([]topology.ProbeSpec, error) {
	if t := m.Plan.Topology; t != nil && len(t.Probes) > 0 {
		return t.Probes, nil
	}
	if n := m.defaultProbeCount(); n > MaxDefaultProbes {
		return nil, fmt.Errorf("%w: lab %s has %d containers, so its default probe set has about %d probes, more than %d; list the probes to run in the file's probes: section",
			ErrTooManyProbes, m.Plan.Lab, len(m.Plan.Containers), n, MaxDefaultProbes)
	}
	return m.DefaultProbes(), nil
}

// defaultProbeCount counts DefaultProbes without building it.
func (m *Model) defaultProbeCount() int {
	n := 0
	for _, src := range m.Plan.Containers {
		for _, dst := range m.Plan.Containers {
			if dst == src {
				continue
			}
			ifaces := len(m.addressedInterfaces(dst))
			n += 2 + ifaces + len(dst.Listen)*(1+ifaces)
		}
		n += 3 * len(m.Plan.Outside)
	}
	for _, dst := range m.Plan.Containers {
		n += len(m.addressedInterfaces(dst)) * (1 + len(dst.Listen))
	}
	via := len(m.Plan.HostAddresses())
	for _, c := range m.Plan.Containers {
		n += len(c.Ports) * (1 + len(m.Plan.Outside)) * via
	}
	return n
}

// DefaultProbes returns the probes run when a file lists none:
//   - every container to every other container by name (ping and dns) and
//     by each of its addresses (ping), and to each listening port (http for
//     TCP ports, udp for UDP ports) by name and by each address;
//   - every container to each outside host by name and by address;
//   - the host to every container address, and to their listening ports;
//   - the host and every outside host to every published port through each
//     host address: localhost, the uplink and each bridge gateway.
func (m *Model) DefaultProbes() []topology.ProbeSpec {
	var out []topology.ProbeSpec
	add := func(s topology.ProbeSpec) { out = append(out, s) }
	for _, src := range m.Plan.Containers {
		for _, dst := range m.Plan.Containers {
			if dst == src {
				continue
			}
			m.containerPairProbes(src.Name, dst, add)
		}
		for _, o := range m.Plan.Outside {
			add(topology.ProbeSpec{From: src.Name, To: o.Name, Kind: topology.KindPing, By: topology.ByName})
			add(topology.ProbeSpec{From: src.Name, To: o.Name, Kind: topology.KindPing, By: topology.ByIP})
			add(topology.ProbeSpec{From: src.Name, To: o.Name, Kind: topology.KindDNS, By: topology.ByName})
		}
	}
	for _, dst := range m.Plan.Containers {
		for _, iface := range m.addressedInterfaces(dst) {
			add(topology.ProbeSpec{From: topology.HostNode, To: dst.Name, Kind: topology.KindPing,
				By: topology.ByIP, Network: iface.Network})
			for _, l := range dst.Listen {
				add(topology.ProbeSpec{From: topology.HostNode, To: dst.Name, Kind: kindFor(l),
					By: topology.ByIP, Network: iface.Network, Port: int(l.Port)})
			}
		}
	}
	sources := []string{topology.HostNode}
	for _, o := range m.Plan.Outside {
		sources = append(sources, o.Name)
	}
	for _, c := range m.Plan.Containers {
		for _, b := range c.Ports {
			for _, src := range sources {
				for _, via := range m.viaAddresses(b) {
					add(topology.ProbeSpec{From: src, To: c.Name, Kind: kindFor(topology.Listen{Proto: b.Proto}),
						By: topology.ByIP, Via: fmt.Sprintf("%s:%d", via, b.HostPort)})
				}
			}
		}
	}
	return out
}

func (m *Model) containerPairProbes(src string, dst *topology.PlannedContainer, add func(topology.ProbeSpec)) {
	add(topology.ProbeSpec{From: src, To: dst.Name, Kind: topology.KindPing, By: topology.ByName})
	add(topology.ProbeSpec{From: src, To: dst.Name, Kind: topology.KindDNS, By: topology.ByName})
	ifaces := m.addressedInterfaces(dst)
	for _, iface := range ifaces {
		add(topology.ProbeSpec{From: src, To: dst.Name, Kind: topology.KindPing, By: topology.ByIP, Network: iface.Network})
	}
	for _, l := range dst.Listen {
		kind := kindFor(l)
		add(topology.ProbeSpec{From: src, To: dst.Name, Kind: kind, By: topology.ByName, Port: int(l.Port)})
		for _, iface := range ifaces {
			add(topology.ProbeSpec{From: src, To: dst.Name, Kind: kind, By: topology.ByIP,
				Network: iface.Network, Port: int(l.Port)})
		}
	}
}

// addressedInterfaces returns the interfaces of the namespace a container
// uses, empty for host and none modes: a container-mode container has its
// target's addresses.
func (m *Model) addressedInterfaces(c *topology.PlannedContainer) []*topology.Interface {
	ns := m.namespace(c)
	if ns == "" {
		return nil
	}
	return m.Plan.Container(ns).Interfaces
}

// viaAddresses returns the host addresses a published port is tried on:
// localhost, the uplink and each bridge gateway, in that order. A binding
// to one address is still tried on all, since the others must fail.
func (m *Model) viaAddresses(b topology.PortBinding) []string {
	var out []string
	for _, a := range m.Plan.HostAddresses() {
		switch a {
		case topology.Localhost:
			out = append(out, "localhost")
		case m.Plan.Uplink.Addr():
			out = append(out, "uplink")
		default:
			out = append(out, a.String())
		}
	}
	return out
}

func kindFor(l topology.Listen) string {
	if l.Proto == "udp" {
		return topology.KindUDP
	}
	return topology.KindHTTP
}

// Check compares a result with an expectation and returns the outcome. The
// result word must match (fail matches any word but ok), and when the
// expectation lists resolves_to, the resolved addresses must be exactly the
// addresses of those nodes that the answer can contain.
func (m *Model) Check(x topology.Expectation, r Result) ExpectationResult {
	out := ExpectationResult{Result: r, Expected: x.Result, ResolvesTo: x.ResolvesTo, Passed: true}
	switch {
	case x.Result == Fail && r.Result == OK:
		out.Passed = false
		out.Failure = fmt.Sprintf("expected any result but ok, got ok (%s)", r.Reason)
	case x.Result != Fail && r.Result != x.Result:
		out.Passed = false
		out.Failure = fmt.Sprintf("expected %s, got %s", x.Result, r.Result)
		if r.Detail != "" {
			out.Failure += " (" + r.Detail + ")"
		}
	}
	if x.ResolvesTo != nil && out.Passed {
		if msg := m.checkResolved(x.ResolvesTo, r.Resolved); msg != "" {
			out.Passed = false
			out.Failure = msg
		}
	}
	return out
}

// checkResolved requires every answer to belong to a listed node and every
// listed node to contribute an answer.
func (m *Model) checkResolved(nodes, resolved []string) string {
	owners := map[string]string{}
	for _, node := range nodes {
		for _, a := range m.nodeAddresses(node) {
			owners[a.String()] = node
		}
	}
	seen := map[string]bool{}
	var stray []string
	for _, a := range resolved {
		node, ok := owners[a]
		if !ok {
			stray = append(stray, a)
			continue
		}
		seen[node] = true
	}
	var missing []string
	for _, node := range nodes {
		if !seen[node] {
			missing = append(missing, node)
		}
	}
	if len(stray) == 0 && len(missing) == 0 {
		return ""
	}
	sort.Strings(stray)
	return fmt.Sprintf("expected the answer to be the addresses of %s, got [%s] (not theirs: [%s]; missing: [%s])",
		strings.Join(nodes, ", "), strings.Join(resolved, " "), strings.Join(stray, " "), strings.Join(missing, " "))
}

func (m *Model) nodeAddresses(node string) []netip.Addr {
	if o := outsideHost(m.Plan, node); o != nil {
		return []netip.Addr{o.Address}
	}
	c := m.Plan.Container(node)
	if c == nil {
		return nil
	}
	var out []netip.Addr
	for _, i := range m.addressedInterfaces(c) {
		out = append(out, i.Address.Addr())
	}
	return out
}

// Expect returns the probes of the topology file's expect section.
func (m *Model) Expect() []topology.Expectation {
	if m.Plan.Topology == nil {
		return nil
	}
	return m.Plan.Topology.Expect
}

// CheckAll checks every expectation against the matching result in results,
// which must come from probing Expect()'s specs in order.
func (m *Model) CheckAll(results []Result) []ExpectationResult {
	xs := m.Expect()
	out := make([]ExpectationResult, 0, len(xs))
	for i, x := range xs {
		if i >= len(results) {
			break
		}
		out = append(out, m.Check(x, results[i]))
	}
	return out
}

// ExpectSpecs returns the probe specs of the expect section.
func (m *Model) ExpectSpecs() []topology.ProbeSpec {
	xs := m.Expect()
	out := make([]topology.ProbeSpec, len(xs))
	for i, x := range xs {
		out[i] = x.ProbeSpec
	}
	return out
}
