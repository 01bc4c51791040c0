package probe

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	"github.com/topolab/topolab/topology"
)

// verdict is a predicted outcome of sending to one address.
type verdict struct {
	result string
	reason string
	// seen is the source address the server sees; invalid when nothing
	// answers or the probe has no server (ping).
	seen netip.Addr
}

// Predict returns the result Docker's rules give for spec, with the reason.
// Result and Predicted are both set to the prediction.
func (m *Model) Predict(spec topology.ProbeSpec) Result {
	r := newResult(spec)
	v, addr, resolved := m.predict(spec)
	r.Predicted, r.Result, r.Reason = v.result, v.result, v.reason
	if addr.IsValid() {
		r.Address = addr.String()
	}
	r.Resolved = resolved
	if v.seen.IsValid() && spec.Kind != topology.KindPing && spec.Kind != topology.KindDNS {
		r.PredictedSource = v.seen.String()
	}
	return r
}

func newResult(spec topology.ProbeSpec) Result {
	return Result{From: spec.From, To: spec.To, Kind: spec.Kind, By: spec.By,
		Network: spec.Network, Name: spec.Name, Port: spec.Port, Via: spec.Via}
}

// PredictAll predicts every spec in order.
func (m *Model) PredictAll(specs []topology.ProbeSpec) []Result {
	out := make([]Result, len(specs))
	for i, s := range specs {
		out[i] = m.Predict(s)
	}
	return out
}

func (m *Model) predict(spec topology.ProbeSpec) (verdict, netip.Addr, []string) {
	src, err := m.endpointOf(spec.From)
	if err != nil {
		return verdict{result: Error, reason: err.Error()}, netip.Addr{}, nil
	}
	t, err := m.TargetOf(spec)
	if err != nil {
		return verdict{result: Error, reason: err.Error()}, netip.Addr{}, nil
	}
	addr := t.Address
	var resolved []string
	var nameWhy string
	if t.Name != "" {
		addrs, why := m.ResolveName(spec.From, t.Name)
		resolved = make([]string, len(addrs))
		for i, a := range addrs {
			resolved[i] = a.String()
		}
		if len(addrs) == 0 {
			return verdict{result: NoName, reason: m.sentence(why)}, netip.Addr{}, resolved
		}
		if spec.Kind == topology.KindDNS {
			return verdict{result: OK, reason: m.sentence(why)}, addrs[0], resolved
		}
		addr, nameWhy = addrs[0], why
	}
	v := m.reach(src, addr, spec.Kind, t.Port)
	if nameWhy != "" {
		v.reason = nameWhy + "; then " + lowerFirst(v.reason)
	}
	v.reason = m.sentence(v.reason)
	return v, addr, resolved
}

// reach predicts a probe of kind from src to dst:port.
func (m *Model) reach(src endpoint, dst netip.Addr, kind string, port uint16) verdict {
	switch {
	case src.kind == topology.NodeOutside:
		return m.fromOutside(src, dst, kind, port)
	case src.onHost():
		return m.fromHost(src, dst, kind, port)
	default:
		return m.fromContainer(src, dst, kind, port)
	}
}

func (m *Model) fromContainer(src endpoint, dst netip.Addr, kind string, port uint16) verdict {
	c := src.container
	if dst.IsLoopback() {
		return m.local(src, c.Name, dst, kind, port)
	}
	if len(c.Interfaces) == 0 {
		return verdict{result: Unreachable, reason: fmt.Sprintf(
			"%s has network mode none: it has only loopback and no route to %s", src.describe(), dst)}
	}
	owner, known := m.owners[dst]
	if known && owner.kind == ownerContainer && owner.node == c.Name {
		return m.local(src, c.Name, dst, kind, port)
	}
	for _, iface := range c.Interfaces {
		if iface.Address.Contains(dst) {
			return m.onLink(src, iface, dst, kind, port)
		}
	}
	if c.Gateway == nil {
		return verdict{result: Unreachable, reason: fmt.Sprintf(
			"%s has no default route because all its networks are internal, so %s is unreachable", src.describe(), dst)}
	}
	gw := m.Plan.Network(c.Gateway.Network)
	if gw.Driver == topology.DriverMacvlan || gw.Driver == topology.DriverIPvlan {
		return m.viaMacvlanGateway(src, gw, dst, kind, port)
	}
	if gw.Internal {
		// Docker gives no default route on internal networks, but older
		// engines (20.10) do; their rules still drop what leaves the subnet.
		return verdict{result: Timeout, reason: fmt.Sprintf(
			"%s's default route is on %s, an internal network, and Docker drops traffic leaving an internal network's subnet",
			src.describe(), gw.Name)}
	}
	switch {
	case known && (owner.kind == ownerGateway || owner.kind == ownerUplink):
		return m.hostInput(src, gw.Name, c.Gateway.Address.Addr(), dst, kind, port)
	case known && owner.kind == ownerContainer:
		if shared := m.sharedNetwork(c, owner.node); shared != "" {
			return verdict{result: Timeout, reason: fmt.Sprintf(
				"%s is not on %s, so it sends to %s's address there through the host, and Docker drops traffic from %s to a container address on another bridge network (they share %s, where %s has another address)",
				src.describe(), owner.network, owner.node, gw.Name, shared, owner.node)}
		}
		return verdict{result: Timeout, reason: fmt.Sprintf(
			"%s and %s share no network: Docker drops traffic from %s to a container address on %s, another bridge network",
			src.describe(), owner.node, gw.Name, owner.network)}
	case known && (owner.kind == ownerRouter || owner.kind == ownerOutside):
		if gw.Options["com.docker.network.bridge.enable_ip_masquerade"] == "false" {
			return verdict{result: Timeout, reason: fmt.Sprintf(
				"masquerade is off on %s, so %s leaves with source %s and the outside has no route back to it",
				gw.Name, dst, c.Gateway.Address.Addr())}
		}
		v := m.outsideService(owner, dst, kind, port, m.Plan.Uplink.Addr())
		v.reason = fmt.Sprintf("%s leaves through the uplink, masqueraded behind %s; %s",
			src.describe(), m.Plan.Uplink.Addr(), lowerFirst(v.reason))
		return v
	}
	return verdict{result: Unreachable, reason: fmt.Sprintf(
		"%s belongs to no lab host, and the outside router has no route to it", dst)}
}

// sharedNetwork returns the first network of c that the namespace of node
// is also on, or "".
func (m *Model) sharedNetwork(c *topology.PlannedContainer, node string) string {
	other := m.Plan.Container(node)
	if other == nil {
		return ""
	}
	for _, i := range c.Interfaces {
		for _, j := range m.addressedInterfaces(other) {
			if i.Network == j.Network {
				return i.Network
			}
		}
	}
	return ""
}

// onLink predicts traffic to an address in the subnet of one of the
// source container's interfaces.
func (m *Model) onLink(src endpoint, iface *topology.Interface, dst netip.Addr, kind string, port uint16) verdict {
	n := m.Plan.Network(iface.Network)
	owner, known := m.owners[dst]
	seen := iface.Address.Addr()
	if known && owner.kind == ownerContainer && owner.network == n.Name {
		if n.Driver == topology.DriverBridge && !n.ICC {
			return verdict{result: Timeout, reason: fmt.Sprintf(
				"inter-container communication (icc) is off on %s, so Docker drops traffic between its containers %s and %s",
				n.Name, src.describe(), owner.node)}
		}
		v := m.containerService(owner.node, kind, port, seen)
		v.reason = fmt.Sprintf("%s and %s share %s, %s; %s",
			src.describe(), owner.node, n.Name, describeNetwork(n), lowerFirst(v.reason))
		return v
	}
	if known && owner.kind == ownerGateway && owner.network == n.Name {
		return m.hostInput(src, n.Name, seen, dst, kind, port)
	}
	if n.Driver == topology.DriverMacvlan || n.Driver == topology.DriverIPvlan {
		if known && (owner.kind == ownerUplink || owner.kind == ownerGateway) {
			return verdict{result: Timeout, reason: fmt.Sprintf(
				"%s is on %s network %s, and the kernel drops traffic between a %s child and its parent's host",
				src.describe(), n.Driver, n.Name, n.Driver)}
		}
		if known && (owner.kind == ownerRouter || owner.kind == ownerOutside) && m.macvlanOnUplink(n) {
			return m.outsideService(owner, dst, kind, port, seen)
		}
	}
	return verdict{result: Unreachable, reason: fmt.Sprintf(
		"no container on %s has address %s, so address resolution gets no answer", n.Name, dst)}
}

// macvlanOnUplink reports whether a macvlan or ipvlan network's parent is
// the Docker host's uplink, which puts its containers on the outside link.
func (m *Model) macvlanOnUplink(n *topology.PlannedNetwork) bool {
	return n.Options["parent"] == "eth0" && n.Subnet.Contains(m.Plan.Router)
}

func (m *Model) viaMacvlanGateway(src endpoint, n *topology.PlannedNetwork, dst netip.Addr, kind string, port uint16) verdict {
	owner, known := m.owners[dst]
	if !m.macvlanOnUplink(n) || n.Gateway != m.Plan.Router {
		return verdict{result: Unreachable, reason: fmt.Sprintf(
			"%s's default route is via %s on %s network %s, whose parent is not the uplink, so no router answers",
			src.describe(), n.Gateway, n.Driver, n.Name)}
	}
	if known && (owner.kind == ownerRouter || owner.kind == ownerOutside) {
		v := m.outsideService(owner, dst, kind, port, src.container.Interface(n.Name).Address.Addr())
		v.reason = fmt.Sprintf("%s is on the outside link through %s network %s, without NAT; %s",
			src.describe(), n.Driver, n.Name, lowerFirst(v.reason))
		return v
	}
	if known && (owner.kind == ownerUplink || owner.kind == ownerGateway) {
		return verdict{result: Timeout, reason: fmt.Sprintf(
			"%s is on %s network %s, and the kernel drops traffic between a %s child and its parent's host",
			src.describe(), n.Driver, n.Name, n.Driver)}
	}
	return verdict{result: Unreachable, reason: fmt.Sprintf(
		"the outside router has no route to %s", dst)}
}

func describeNetwork(n *topology.PlannedNetwork) string {
	switch {
	case n.Default:
		return "the default bridge"
	case n.Internal:
		return "an internal " + n.Driver + " network"
	case n.Driver == topology.DriverBridge:
		return "a user-defined bridge"
	}
	return "a " + n.Driver + " network"
}

// local predicts a probe that stays inside the source's own namespace.
func (m *Model) local(src endpoint, ns string, dst netip.Addr, kind string, port uint16) verdict {
	if kind == topology.KindPing {
		return verdict{result: OK, reason: fmt.Sprintf("%s is %s's own address", dst, src.describe())}
	}
	l := topology.Listen{Port: port, Proto: protoOf(kind)}
	if server := m.listener(ns, l); server != "" {
		return verdict{result: OK, seen: dst, reason: fmt.Sprintf(
			"%s listens on %d/%s in %s's own namespace", server, port, l.Proto, src.describe())}
	}
	return verdict{result: Refused, reason: fmt.Sprintf(
		"nothing listens on %s:%d/%s in %s's own namespace", dst, port, l.Proto, src.describe())}
}

// containerService predicts the answer of a container whose address was
// reached.
func (m *Model) containerService(node, kind string, port uint16, seen netip.Addr) verdict {
	if kind == topology.KindPing {
		return verdict{result: OK, reason: node + " answers ping"}
	}
	c := m.Plan.Container(node)
	ns := m.namespace(c)
	l := topology.Listen{Port: port, Proto: protoOf(kind)}
	if server := m.listener(ns, l); server != "" {
		who := server
		if server != node {
			who = server + " (in " + node + "'s namespace)"
		}
		return verdict{result: OK, seen: seen, reason: fmt.Sprintf("%s listens on %d/%s", who, port, l.Proto)}
	}
	return verdict{result: Refused, reason: fmt.Sprintf("%s listens on no %s port %d", node, l.Proto, port)}
}

// outsideService predicts the answer of an outside host or the router.
func (m *Model) outsideService(owner addrOwner, dst netip.Addr, kind string, port uint16, seen netip.Addr) verdict {
	name := owner.node
	if owner.kind == ownerRouter {
		name = "the outside router"
	}
	switch {
	case kind == topology.KindPing:
		return verdict{result: OK, reason: name + " answers ping"}
	case owner.kind == ownerOutside && kind != topology.KindUDP && port == OutsideHTTPPort:
		return verdict{result: OK, seen: seen, reason: name + " serves HTTP on port 80"}
	case owner.kind == ownerRouter && kind != topology.KindUDP && port == 53:
		return verdict{result: OK, seen: seen, reason: name + " serves DNS on 53/tcp"}
	}
	return verdict{result: Refused, reason: fmt.Sprintf("%s listens on no %s port %d", name, protoOf(kind), port)}
}

// hostInput predicts traffic that arrives at one of the Docker host's own
// addresses: from a container through the bridge of network ingress, from
// the host itself (ingress ""), or from the outside (ingress "uplink").
// srcAddr is the packet's source address before any NAT.
func (m *Model) hostInput(src endpoint, ingress string, srcAddr, dst netip.Addr, kind string, port uint16) verdict {
	if kind == topology.KindPing {
		return verdict{result: OK, reason: fmt.Sprintf(
			"%s is the Docker host's address, and Docker filters nothing addressed to the host", dst)}
	}
	proto := protoOf(kind)
	for _, c := range m.Plan.Containers {
		for _, b := range c.Ports {
			if b.HostPort != port || b.Proto != proto {
				continue
			}
			if b.HostIP != dst && !b.HostIP.IsUnspecified() {
				continue
			}
			return m.published(src, ingress, srcAddr, dst, c, b, kind)
		}
	}
	l := topology.Listen{Port: port, Proto: proto}
	if server := m.listener("", l); server != "" {
		return verdict{result: OK, seen: srcAddr, reason: fmt.Sprintf(
			"%s runs in host network mode and listens on %d/%s on every host address", server, port, proto)}
	}
	return verdict{result: Refused, reason: fmt.Sprintf(
		"no container publishes %s:%d/%s and nothing else listens there on the Docker host", dst, port, proto)}
}

// published predicts traffic to a published port b of container c.
func (m *Model) published(src endpoint, ingress string, srcAddr, dst netip.Addr, c *topology.PlannedContainer,
	b topology.PortBinding, kind string) verdict {
	bindNet := m.Plan.Network(b.Network)
	binding := fmt.Sprintf("%s:%d->%d/%s", b.HostIP, b.HostPort, b.ContainerPort, b.Proto)
	finish := func(seen netip.Addr, path string) verdict {
		v := m.containerService(c.Name, kind, b.ContainerPort, seen)
		v.reason = fmt.Sprintf("%s publishes %s; %s; %s", c.Name, binding, path, lowerFirst(v.reason))
		return v
	}
	switch {
	case dst.IsLoopback():
		return finish(bindNet.Gateway, fmt.Sprintf(
			"docker-proxy accepts on the host's loopback and connects from the gateway %s", bindNet.Gateway))
	case ingress == bindNet.Name:
		return finish(bindNet.Gateway, fmt.Sprintf(
			"DNAT skips traffic from %s's own bridge, so docker-proxy relays the hairpin connection from %s",
			c.Name, bindNet.Gateway))
	case ingress == "":
		// The host's socket takes dst as its source address. Masquerade
		// rewrites it when dst is another bridge's gateway, whose subnet
		// leaves through a bridge that is not its own.
		seen := dst
		if o := m.owners[dst]; o.kind == ownerGateway && o.network != bindNet.Name {
			seen = bindNet.Gateway
		}
		return finish(seen, fmt.Sprintf("the host's own connection is DNATed in OUTPUT to %s:%d", b.ContainerIP, b.ContainerPort))
	case ingress == "uplink":
		return finish(srcAddr, fmt.Sprintf("PREROUTING DNATs it to %s:%d and the container sees the real client", b.ContainerIP, b.ContainerPort))
	}
	in := m.Plan.Network(ingress)
	if in.Internal {
		return verdict{result: Timeout, reason: fmt.Sprintf(
			"%s publishes %s, but %s is internal, so Docker drops the DNATed traffic leaving its subnet", c.Name, binding, in.Name)}
	}
	return finish(bindNet.Gateway, fmt.Sprintf(
		"PREROUTING DNATs it to %s:%d and masquerade rewrites the source to %s", b.ContainerIP, b.ContainerPort, bindNet.Gateway))
}

func (m *Model) fromHost(src endpoint, dst netip.Addr, kind string, port uint16) verdict {
	owner, known := m.owners[dst]
	switch {
	case dst.IsLoopback():
		return m.hostInput(src, "", dst, dst, kind, port)
	case known && (owner.kind == ownerGateway || owner.kind == ownerUplink):
		return m.hostInput(src, "", dst, dst, kind, port)
	case known && owner.kind == ownerContainer:
		n := m.Plan.Network(owner.network)
		if n.Driver == topology.DriverMacvlan || n.Driver == topology.DriverIPvlan {
			return verdict{result: Timeout, reason: fmt.Sprintf(
				"%s is on %s network %s, and the kernel drops traffic between a %s parent's host and its children",
				owner.node, n.Driver, n.Name, n.Driver)}
		}
		v := m.containerService(owner.node, kind, port, n.Gateway)
		v.reason = fmt.Sprintf("the Docker host reaches every container address on its bridges (%s, %s); %s",
			n.Name, describeNetwork(n), lowerFirst(v.reason))
		return v
	case known && (owner.kind == ownerRouter || owner.kind == ownerOutside):
		v := m.outsideService(owner, dst, kind, port, m.Plan.Uplink.Addr())
		v.reason = "the Docker host routes to the outside through its uplink; " + lowerFirst(v.reason)
		return v
	}
	return verdict{result: Unreachable, reason: fmt.Sprintf(
		"%s belongs to no lab host, and the outside router has no route to it", dst)}
}

func (m *Model) fromOutside(src endpoint, dst netip.Addr, kind string, port uint16) verdict {
	owner, known := m.owners[dst]
	switch {
	case dst.IsLoopback():
		if kind == topology.KindPing {
			return verdict{result: OK, reason: "loopback answers inside the outside namespace"}
		}
		return verdict{result: Refused, reason: fmt.Sprintf(
			"%s's loopback is its own, and no outside server listens on port %d there", src.node, port)}
	case known && owner.kind == ownerUplink:
		return m.hostInput(src, "uplink", src.addr, dst, kind, port)
	case known && (owner.kind == ownerRouter || owner.kind == ownerOutside):
		return m.outsideService(owner, dst, kind, port, src.addr)
	case known && owner.kind == ownerGateway:
		return verdict{result: Unreachable, reason: fmt.Sprintf(
			"%s is a bridge gateway, private to the Docker host: the outside router has no route to %s",
			dst, m.Plan.Network(owner.network).Subnet)}
	case known && owner.kind == ownerContainer:
		return verdict{result: Unreachable, reason: fmt.Sprintf(
			"container addresses are private to the Docker host: the outside router has no route to %s",
			m.Plan.Network(owner.network).Subnet)}
	}
	return verdict{result: Unreachable, reason: fmt.Sprintf("the outside router has no route to %s", dst)}
}

// lowerFirst lowers the first letter of a reason that is joined into a
// longer one, unless it starts an acronym such as PREROUTING or DNAT.
func lowerFirst(s string) string {
	if len(s) < 2 || !unicode.IsUpper(rune(s[0])) || unicode.IsUpper(rune(s[1])) {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// sentence ends a reason with a period and capitalises its first letter,
// unless it starts with a node name, which keeps its case.
func (m *Model) sentence(s string) string {
	if s == "" {
		return s
	}
	first := s
	if i := strings.IndexAny(s, " '("); i > 0 {
		first = s[:i]
	}
	if _, err := m.endpointOf(first); err != nil {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
