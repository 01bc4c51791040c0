package topology

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var (
	labNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	dnsLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	ifnameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
)

// ifnameMax is the longest Linux interface name (IFNAMSIZ less the NUL).
const ifnameMax = 15

func validLabName(s string) bool  { return labNameRE.MatchString(s) }
func validDNSLabel(s string) bool { return dnsLabelRE.MatchString(s) }

func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !validDNSLabel(label) {
			return false
		}
	}
	return true
}

// Network options topolab understands, per driver. Docker passes unknown
// options to the driver and ignores them; topolab rejects them so that a typo
// does not silently change nothing.
var networkOptions = map[string][]string{
	DriverBridge: {
		"com.docker.network.bridge.name",
		"com.docker.network.bridge.enable_ip_masquerade",
		"com.docker.network.driver.mtu",
		"com.docker.network.container_iface_prefix",
	},
	DriverMacvlan: {"parent", "macvlan_mode", "com.docker.network.driver.mtu"},
	DriverIPvlan:  {"parent", "ipvlan_mode", "ipvlan_flag", "com.docker.network.driver.mtu"},
	DriverOverlay: {"encrypted", "com.docker.network.driver.mtu"},
}

var optionValues = map[string][]string{
	"macvlan_mode": {"bridge", "vepa", "private", "passthru"},
	"ipvlan_mode":  {"l2", "l3", "l3s"},
	"ipvlan_flag":  {"bridge", "private", "vepa"},
	"com.docker.network.bridge.enable_ip_masquerade": {"true", "false"},
}

// Result words of a probe.
var resultWords = []string{"ok", "timeout", "refused", "unreachable", "no-name", "error"}

// documentation ranges (RFC 5737), the only addresses an outside host may have.
var docRanges = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

// validate checks what no single field can: names, references between
// sections and Docker's rules for combining options.
func validate(t *Topology, d *diagnostics) {
	nodes := validateNames(t, d)
	validateNetworks(t, d)
	validateContainers(t, d)
	validatePorts(t, d)
	for i := range t.Probes {
		validateProbe(t, d, &t.Probes[i], fmt.Sprintf("probes[%d]", i), nodes)
	}
	for i := range t.Expect {
		x := &t.Expect[i]
		field := fmt.Sprintf("expect[%d]", i)
		validateProbe(t, d, &x.ProbeSpec, field, nodes)
		if x.Result != "" && x.Result != "fail" && !contains(resultWords, x.Result) {
			d.add(x.Pos, field+".result", "use one of "+strings.Join(resultWords, ", ")+" or fail",
				"unknown result %q", x.Result)
		}
		for _, r := range x.ResolvesTo {
			if _, ok := nodes[r]; !ok || r == HostNode {
				d.add(x.Pos, field+".resolves_to", "name containers or outside hosts of this file",
					"unknown node %q", r)
			}
		}
	}
}

// validateNames checks node and network names and returns every node name.
func validateNames(t *Topology, d *diagnostics) map[string]Pos {
	nodes := map[string]Pos{HostNode: {}}
	for _, n := range t.Networks {
		field := "networks." + n.Name
		switch {
		case n.Name == DefaultBridge || n.Name == HostNetwork || n.Name == NoneNetwork:
			d.add(n.Pos, field, "choose another name; bridge, host and none always exist",
				"network name %q is predefined", n.Name)
		case !validDNSLabel(n.Name):
			d.add(n.Pos, field, "use letters, digits and '-', at most 63 characters",
				"invalid network name %q: not a DNS label", n.Name)
		}
	}
	for _, c := range t.Containers {
		field := "containers." + c.Name
		switch {
		case c.Name == HostNode:
			d.add(c.Pos, field, "choose another name; host is the Docker host", "container name %q is reserved", c.Name)
		case !validDNSLabel(c.Name):
			d.add(c.Pos, field, "use letters, digits and '-', at most 63 characters",
				"invalid container name %q: not a DNS label", c.Name)
		}
		nodes[c.Name] = c.Pos
	}
	for _, o := range t.Outside {
		field := "outside." + o.Name
		if prev, dup := nodes[o.Name]; dup {
			d.add(o.Pos, field, "give the outside host another name",
				"name %q is already used by a container at line %d", o.Name, prev.Line)
			continue
		}
		if !validDNSName(o.Name) {
			d.add(o.Pos, field, "use DNS labels separated by dots, such as example.com",
				"invalid outside host name %q", o.Name)
		}
		if !inAny(o.Address, docRanges) {
			d.add(o.Pos, field, "use an address in 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24",
				"address %s is not a documentation address; a lab never simulates real hosts", o.Address)
		} else if o.Address == UplinkPrefix.Addr() || o.Address == OutsideRouter {
			d.add(o.Pos, field, "use another address; 192.0.2.10 is the Docker host's uplink and 192.0.2.1 the outside router",
				"address %s is reserved", o.Address)
		}
		nodes[o.Name] = o.Pos
	}
	return nodes
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func validateNetworks(t *Topology, d *diagnostics) {
	for _, n := range t.Networks {
		field := "networks." + n.Name
		if n.Gateway.IsValid() {
			switch {
			case !n.Subnet.IsValid():
				d.add(n.Pos, field+".gateway", "add a subnet: that contains the gateway",
					"a gateway needs an explicit subnet")
			case !n.Subnet.Contains(n.Gateway):
				d.add(n.Pos, field+".gateway", fmt.Sprintf("use an address inside %s", n.Subnet),
					"gateway %s is outside subnet %s (Docker: no matching subnet for gateway)", n.Gateway, n.Subnet)
			case n.Gateway == n.Subnet.Addr() || n.Gateway == lastAddr(n.Subnet):
				d.add(n.Pos, field+".gateway", "use a host address of the subnet",
					"gateway %s is the network or broadcast address of %s", n.Gateway, n.Subnet)
			}
		}
		if n.Subnet.IsValid() {
			if n.Subnet.Overlaps(defaultBridgeSubnet) {
				d.add(n.Pos, field+".subnet", "choose a subnet outside 172.17.0.0/16",
					"subnet %s overlaps the default bridge's 172.17.0.0/16 (Docker: pool overlaps with other one on this address space)", n.Subnet)
			}
			if n.Subnet.Overlaps(UplinkPrefix.Masked()) && n.Driver == DriverBridge {
				d.add(n.Pos, field+".subnet", "choose a subnet outside 192.0.2.0/24",
					"subnet %s overlaps the Docker host's uplink network 192.0.2.0/24", n.Subnet)
			}
			for _, o := range t.Outside {
				if n.Subnet.Contains(o.Address) && n.Driver == DriverBridge {
					d.add(n.Pos, field+".subnet", "move the outside host or the subnet",
						"subnet %s contains outside host %s (%s)", n.Subnet, o.Name, o.Address)
				}
			}
		}
		if n.Driver != DriverBridge && !n.ICC {
			d.add(n.Pos, field+".icc", "remove icc: it applies to bridge networks only",
				"icc is a bridge driver option, not one of %s", n.Driver)
		}
		keys := make([]string, 0, len(n.Options))
		for k := range n.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			validateOption(d, n, k, n.Options[k], field+".options."+k)
		}
	}
	for i, a := range t.Networks {
		for _, b := range t.Networks[i+1:] {
			if a.Subnet.IsValid() && b.Subnet.IsValid() && a.Subnet.Overlaps(b.Subnet) {
				d.add(b.Pos, "networks."+b.Name+".subnet", "choose a subnet that overlaps no other network",
					"subnet %s overlaps %s of network %s (Docker: pool overlaps with other one on this address space)",
					b.Subnet, a.Subnet, a.Name)
			}
		}
	}
}

func validateOption(d *diagnostics, n *Network, key, value, field string) {
	known := networkOptions[n.Driver]
	if !contains(known, key) {
		d.add(n.Pos, field, "use one of "+strings.Join(known, ", "),
			"option %q is not supported for the %s driver", key, n.Driver)
		return
	}
	if allowed, ok := optionValues[key]; ok && !contains(allowed, value) {
		d.add(n.Pos, field, "use one of "+strings.Join(allowed, ", "), "invalid value %q", value)
		return
	}
	switch key {
	case "com.docker.network.bridge.name", "parent":
		if !ifnameRE.MatchString(value) {
			d.add(n.Pos, field, fmt.Sprintf("use at most %d letters, digits, '.', '-' or '_'", ifnameMax),
				"interface name %q is not a valid Linux interface name", value)
		}
	case "com.docker.network.container_iface_prefix":
		if !ifnameRE.MatchString(value+"99") || strings.ContainsAny(value, ".") {
			d.add(n.Pos, field, fmt.Sprintf("use a prefix of at most %d letters", ifnameMax-2),
				"prefix %q makes interface names longer than %d characters", value, ifnameMax)
		}
	case "com.docker.network.driver.mtu":
		if v, err := strconv.Atoi(value); err != nil || v < 68 || v > 65535 {
			d.add(n.Pos, field, "use a number from 68 to 65535", "invalid MTU %q", value)
		}
	}
}

func validateContainers(t *Topology, d *diagnostics) {
	for _, c := range t.Containers {
		field := "containers." + c.Name
		seen := map[string]bool{}
		for i, a := range c.Networks {
			af := fmt.Sprintf("%s.networks.%s", field, a.Network)
			switch {
			case a.Network == HostNetwork || a.Network == NoneNetwork:
				d.add(a.Pos, af, fmt.Sprintf("write network_mode: %s instead", a.Network),
					"network %q cannot be listed with networks; it is a network mode", a.Network)
				continue
			case a.Network != DefaultBridge && t.Network(a.Network) == nil:
				d.add(a.Pos, af, "define it under networks: or use one of "+strings.Join(networkNames(t), ", "),
					"unknown network %q", a.Network)
				continue
			case seen[a.Network]:
				d.add(a.Pos, af, "list each network once", "network %q is listed twice (attachment %d)", a.Network, i)
				continue
			}
			seen[a.Network] = true
			if a.Network == DefaultBridge {
				if len(a.Aliases) > 0 {
					d.add(a.Pos, af+".aliases", "put the container on a user-defined network and give the aliases there",
						"network-scoped aliases are only supported for user-defined networks")
				}
				if a.IPv4Address.IsValid() {
					d.add(a.Pos, af+".ipv4_address", "put the container on a user-defined network with a subnet",
						"user specified IP address is supported on user defined networks only")
				}
				continue
			}
			n := t.Network(a.Network)
			if a.IPv4Address.IsValid() && n.Subnet.IsValid() {
				validateStaticAddress(d, af+".ipv4_address", a, n.Subnet, n.Gateway)
			}
		}
		switch c.NetworkMode {
		case ModeHost, ModeContainer:
			what := "host"
			if c.NetworkMode == ModeContainer {
				what = "container:" + c.ModeTarget
			}
			if len(c.Networks) > 0 {
				d.add(c.Networks[0].Pos, field+".networks", "remove networks, or remove network_mode",
					"a container in network mode %s cannot be connected to any other network "+
						"(Docker: container sharing network namespace with another container or host cannot be connected to any other network)", what)
			}
			if len(c.Ports) > 0 {
				fix := "remove ports: the container uses the host's ports directly"
				msg := "published ports are discarded when using host network mode"
				if c.NetworkMode == ModeContainer {
					fix = "publish the ports on " + c.ModeTarget + " instead"
					msg = "conflicting options: port publishing and the container type network mode"
				}
				d.add(c.Ports[0].Pos, field+".ports", fix, "%s", msg)
			}
			if c.NetworkMode == ModeContainer && c.Hostname != "" {
				d.add(c.ModePos, field+".hostname", "remove hostname: the container shares "+c.ModeTarget+"'s",
					"conflicting options: hostname and the network mode")
			}
		case ModeNone:
			if len(c.Networks) > 0 {
				d.add(c.Networks[0].Pos, field+".networks", "remove networks, or remove network_mode: none",
					"container cannot be connected to multiple networks with one of the networks in private (none) mode")
			}
			if len(c.Ports) > 0 {
				d.add(c.Ports[0].Pos, field+".ports", "remove ports: a container without a network has nothing to publish on",
					"ports cannot be published in network mode none")
			}
		}
		validateListen(d, c, field)
	}
	validateModeTargets(t, d)
	validateStaticDuplicates(t, d)
}

func validateStaticAddress(d *diagnostics, field string, a *Attachment, subnet netip.Prefix, gateway netip.Addr) {
	if !gateway.IsValid() {
		gateway = subnet.Addr().Next()
	}
	switch {
	case !subnet.Contains(a.IPv4Address):
		d.add(a.Pos, field, fmt.Sprintf("use an address inside %s", subnet),
			"no configured subnet contains IP address %s", a.IPv4Address)
	case a.IPv4Address == subnet.Addr() || a.IPv4Address == lastAddr(subnet):
		d.add(a.Pos, field, "use a host address of the subnet",
			"%s is the network or broadcast address of %s", a.IPv4Address, subnet)
	case a.IPv4Address == gateway:
		d.add(a.Pos, field, "use another address; the gateway has this one",
			"address %s is already in use by the gateway", a.IPv4Address)
	}
}

func validateStaticDuplicates(t *Topology, d *diagnostics) {
	type key struct {
		network string
		addr    netip.Addr
	}
	owner := map[key]string{}
	for _, c := range t.Containers {
		for _, a := range c.Networks {
			if !a.IPv4Address.IsValid() {
				continue
			}
			k := key{a.Network, a.IPv4Address}
			if prev, dup := owner[k]; dup {
				d.add(a.Pos, fmt.Sprintf("containers.%s.networks.%s.ipv4_address", c.Name, a.Network),
					"give each container its own address",
					"address %s on %s is already assigned to %s (Docker: address already in use)", a.IPv4Address, a.Network, prev)
				continue
			}
			owner[k] = c.Name
		}
	}
}

func validateListen(d *diagnostics, c *Container, field string) {
	seen := map[Listen]bool{}
	for _, l := range c.Listen {
		if seen[l] {
			d.add(c.Pos, field+".listen", "list each port once", "%d/%s is listed twice", l.Port, l.Proto)
		}
		seen[l] = true
	}
}

func validateModeTargets(t *Topology, d *diagnostics) {
	for _, c := range t.Containers {
		if c.NetworkMode != ModeContainer {
			continue
		}
		field := "containers." + c.Name + ".network_mode"
		target := t.Container(c.ModeTarget)
		if target == nil {
			d.add(c.ModePos, field, "name a container of this file", "unknown container %q", c.ModeTarget)
			continue
		}
		chain := []string{c.Name}
		for cur := target; cur != nil; cur = t.Container(cur.ModeTarget) {
			chain = append(chain, cur.Name)
			if cur.Name == c.Name {
				d.add(c.ModePos, field, "let one container of the chain own its network",
					"network modes form a cycle: %s", strings.Join(chain, " -> "))
				break
			}
			if cur.NetworkMode != ModeContainer || len(chain) > len(t.Containers)+1 {
				break
			}
		}
	}
}

// validatePorts rejects two bindings of one host address and port. A binding
// on every address (no host IP) clashes with any other on the same port.
func validatePorts(t *Topology, d *diagnostics) {
	type binding struct {
		container string
		spec      PortSpec
	}
	var seen []binding
	for _, c := range t.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			for _, b := range seen {
				if b.spec.HostPort != p.HostPort || b.spec.Proto != p.Proto {
					continue
				}
				if b.spec.HostIP.IsValid() && p.HostIP.IsValid() && b.spec.HostIP != p.HostIP {
					continue
				}
				host := "0.0.0.0"
				if p.HostIP.IsValid() {
					host = p.HostIP.String()
				}
				d.add(p.Pos, fmt.Sprintf("containers.%s.ports", c.Name), "choose another host port",
					"Bind for %s:%d failed: port is already allocated (by %s, %q)", host, p.HostPort, b.container, b.spec.Raw)
				break
			}
			seen = append(seen, binding{c.Name, p})
		}
	}
}

var (
	probeKinds = []string{KindPing, KindDNS, KindHTTP, KindTCP, KindUDP}
	viaWords   = []string{"uplink", "gateway", "localhost"}
)

func validateProbe(t *Topology, d *diagnostics, p *ProbeSpec, field string, nodes map[string]Pos) {
	if p.From == "" {
		d.add(p.Pos, field+".from", "add from: with a container, outside host or host", "missing source")
	} else if _, ok := nodes[p.From]; !ok {
		d.add(p.Pos, field+".from", "name a container, an outside host or host", "unknown node %q", p.From)
	}
	if p.To == "" && p.Via == "" {
		d.add(p.Pos, field+".to", "add to: with a node name, or via: ADDRESS:PORT", "missing target")
	} else if _, ok := nodes[p.To]; p.To != "" && !ok {
		d.add(p.Pos, field+".to", "name a container, an outside host or host", "unknown node %q", p.To)
	}
	switch {
	case p.Kind == "":
		d.add(p.Pos, field+".kind", "add kind: ping, dns, http, tcp or udp", "missing probe kind")
	case !contains(probeKinds, p.Kind):
		d.add(p.Pos, field+".kind", "use ping, dns, http, tcp or udp", "unknown probe kind %q", p.Kind)
	}
	if p.By == "" {
		p.By = ByIP
		if p.Kind == KindDNS || p.Name != "" {
			p.By = ByName
		}
	} else if p.By != ByIP && p.By != ByName {
		d.add(p.Pos, field+".by", "use ip or name", "unknown value %q", p.By)
	}
	if p.Kind == KindDNS && p.By == ByIP {
		d.add(p.Pos, field+".by", "remove by: ip; a dns probe always looks up a name", "a dns probe cannot go by ip")
	}
	if p.Name != "" && p.By == ByIP {
		d.add(p.Pos, field+".name", "remove name:, or set by: name", "name is only used with by: name")
	}
	if p.Network != "" {
		if p.Network != DefaultBridge && t.Network(p.Network) == nil {
			d.add(p.Pos, field+".network", "name a network of this file or bridge", "unknown network %q", p.Network)
		} else if c := t.Container(p.To); c != nil && !attachedTo(c, p.Network) {
			d.add(p.Pos, field+".network", "name a network that "+p.To+" is attached to",
				"%s is not attached to network %q", p.To, p.Network)
		}
	}
	if p.Port != 0 && p.Kind == KindPing {
		d.add(p.Pos, field+".port", "remove port: ping has no ports", "ping takes no port")
	}
	if p.Via != "" {
		validateVia(d, p, field)
	}
}

func attachedTo(c *Container, network string) bool {
	if len(c.Networks) == 0 && c.NetworkMode == ModeBridge {
		return network == DefaultBridge
	}
	for _, a := range c.Networks {
		if a.Network == network {
			return true
		}
	}
	return false
}

func validateVia(d *diagnostics, p *ProbeSpec, field string) {
	host, port, ok := strings.Cut(p.Via, ":")
	fix := "write ADDRESS:PORT where ADDRESS is an IPv4 address, uplink, gateway or localhost"
	if !ok {
		d.add(p.Pos, field+".via", fix, "invalid via %q: missing port", p.Via)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		d.add(p.Pos, field+".via", fix, "invalid via %q: port %q is not a number from 1 to 65535", p.Via, port)
	}
	if _, err := netip.ParseAddr(host); err != nil && !contains(viaWords, host) {
		d.add(p.Pos, field+".via", fix, "invalid via %q: %q is not an address", p.Via, host)
	}
	if p.Kind == KindPing {
		d.add(p.Pos, field+".via", "use kind: tcp, http or udp with via", "ping cannot go via a port")
	}
}

func networkNames(t *Topology) []string {
	names := []string{DefaultBridge}
	for _, n := range t.Networks {
		names = append(names, n.Name)
	}
	return names
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	bits := p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= (1<<(32-bits) - 1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
