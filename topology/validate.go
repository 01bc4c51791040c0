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

// hostnameMax is the longest hostname Linux accepts (HOST_NAME_MAX).
const hostnameMax = 64

func validHostname(s string) bool { return len(s) <= hostnameMax && validDNSName(s) }

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
			d.add(d.at(field+".result", x.Pos), field+".result", "use one of "+strings.Join(resultWords, ", ")+" or fail",
				"unknown result %q", x.Result)
		}
		for j, r := range x.ResolvesTo {
			rf := fmt.Sprintf("%s.resolves_to[%d]", field, j)
			if r == HostNode {
				d.add(d.at(rf, x.Pos), rf, "name containers or outside hosts of this file",
					"host cannot be an answer: the Docker host has no name in the lab's DNS")
			} else if _, ok := nodes[r]; !ok && !nodesIncomplete(d) {
				d.add(d.at(rf, x.Pos), rf, "name containers or outside hosts of this file"+suggestNode(d, r, nodes),
					"unknown node %q", r)
			}
		}
	}
}

// nodesIncomplete reports whether the containers or outside sections could
// not be read, so that references to nodes are not checked against them.
func nodesIncomplete(d *diagnostics) bool {
	return d.hasError("containers") || d.hasError("outside")
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
		addrPos := d.at(field, o.Pos)
		if !inAny(o.Address, docRanges) {
			d.add(addrPos, field, "use an address in 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24",
				"address %s is not a documentation address; a lab never simulates real hosts", o.Address)
		} else if o.Address == UplinkPrefix.Addr() || o.Address == OutsideRouter {
			d.add(addrPos, field, "use another address; 192.0.2.10 is the Docker host's uplink and 192.0.2.1 the outside router",
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
		gatewayPos := d.at(field+".gateway", n.Pos)
		subnetPos := d.at(field+".subnet", n.Pos)
		if n.Gateway.IsValid() {
			switch {
			case !n.Subnet.IsValid():
				if d.hasError(field + ".subnet") {
					break
				}
				d.add(gatewayPos, field+".gateway", "add a subnet: that contains the gateway",
					"a gateway needs an explicit subnet (Docker: every ip-range or gateway must have a corresponding subnet)")
			case !n.Subnet.Contains(n.Gateway):
				d.add(gatewayPos, field+".gateway", fmt.Sprintf("use an address inside %s", n.Subnet),
					"gateway %s is outside subnet %s (Docker: no matching subnet for gateway)", n.Gateway, n.Subnet)
			case n.Gateway == n.Subnet.Addr() || n.Gateway == lastAddr(n.Subnet):
				d.add(gatewayPos, field+".gateway", "use a host address of the subnet",
					"gateway %s is the %s address of %s", n.Gateway, reservedKind(n.Gateway, n.Subnet), n.Subnet)
			}
		}
		if n.Subnet.IsValid() {
			if n.Subnet.Overlaps(defaultBridgeSubnet) {
				d.add(subnetPos, field+".subnet", "choose a subnet outside 172.17.0.0/16",
					"subnet %s overlaps the default bridge's 172.17.0.0/16 (Docker: pool overlaps with other one on this address space)", n.Subnet)
			}
			if n.Subnet.Overlaps(UplinkPrefix.Masked()) && n.Driver == DriverBridge {
				d.add(subnetPos, field+".subnet", "choose a subnet outside 192.0.2.0/24",
					"subnet %s overlaps the Docker host's uplink network 192.0.2.0/24", n.Subnet)
			}
			for _, o := range t.Outside {
				if n.Subnet.Contains(o.Address) && n.Driver == DriverBridge {
					d.add(subnetPos, field+".subnet", "move the outside host or the subnet",
						"subnet %s contains outside host %s (%s)", n.Subnet, o.Name, o.Address)
				}
			}
		}
		if n.Driver != DriverBridge && !n.ICC {
			d.add(d.at(field+".icc", n.Pos), field+".icc", "remove icc: it applies to bridge networks only",
				"icc is an option of the bridge driver, not of %s", n.Driver)
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
	bridges := map[string]string{"docker0": DefaultBridge}
	for _, n := range t.Networks {
		name := n.Options["com.docker.network.bridge.name"]
		if name == "" || n.Driver != DriverBridge {
			continue
		}
		field := "networks." + n.Name + ".options.com.docker.network.bridge.name"
		if other, dup := bridges[name]; dup {
			d.add(d.at(field, n.Pos), field, "choose another bridge name",
				"bridge device %s is already used by network %s", name, other)
			continue
		}
		bridges[name] = n.Name
	}
	for i, a := range t.Networks {
		for _, b := range t.Networks[i+1:] {
			if a.Subnet.IsValid() && b.Subnet.IsValid() && a.Subnet.Overlaps(b.Subnet) {
				bf := "networks." + b.Name + ".subnet"
				d.add(d.at(bf, b.Pos), bf, "choose a subnet that overlaps no other network",
					"subnet %s overlaps %s of network %s (Docker: pool overlaps with other one on this address space)",
					b.Subnet, a.Subnet, a.Name)
			}
		}
	}
}

// optionFields names the topology field that replaces a Docker option.
var optionFields = map[string]string{
	"com.docker.network.bridge.enable_icc": "icc",
	"com.docker.network.internal":          "internal",
}

func validateOption(d *diagnostics, n *Network, key, value, field string) {
	known := networkOptions[n.Driver]
	pos := d.at(field, n.Pos)
	if !contains(known, key) {
		fix := "use one of " + strings.Join(known, ", ")
		if f, ok := optionFields[key]; ok {
			fix = fmt.Sprintf("write %s: %s on the network instead of the option", f, value)
		} else if s := closest(key, known); s != "" {
			fix = fmt.Sprintf("did you mean %q? (supported: %s)", s, strings.Join(known, ", "))
		}
		d.add(pos, field, fix, "option %q is not supported for the %s driver", key, n.Driver)
		return
	}
	if allowed, ok := optionValues[key]; ok && !contains(allowed, value) {
		d.add(pos, field, "use one of "+strings.Join(allowed, ", "), "invalid value %q", value)
		return
	}
	switch key {
	case "com.docker.network.bridge.name", "parent":
		if !ifnameRE.MatchString(value) {
			d.add(pos, field, fmt.Sprintf("use at most %d letters, digits, '.', '-' or '_'", ifnameMax),
				"interface name %q is not a valid Linux interface name", value)
		}
	case "com.docker.network.container_iface_prefix":
		if !ifnameRE.MatchString(value+"99") || strings.ContainsAny(value, ".") {
			d.add(pos, field, fmt.Sprintf("use a prefix of at most %d letters, digits, '-' or '_'", ifnameMax-2),
				"prefix %q makes interface names longer than %d characters", value, ifnameMax)
		}
	case "com.docker.network.driver.mtu":
		if v, err := strconv.Atoi(value); err != nil || v < 68 || v > 65535 {
			d.add(pos, field, "use a number from 68 to 65535", "invalid MTU %q", value)
		}
	}
}

func validateContainers(t *Topology, d *diagnostics) {
	for _, c := range t.Containers {
		field := "containers." + c.Name
		seen := map[string]bool{}
		for _, a := range c.Networks {
			af := fmt.Sprintf("%s.networks.%s", field, a.Network)
			switch {
			case a.Network == HostNetwork || a.Network == NoneNetwork:
				d.add(a.Pos, af, fmt.Sprintf("write network_mode: %s instead", a.Network),
					"network %q cannot be listed with networks; it is a network mode", a.Network)
				continue
			case a.Network != DefaultBridge && t.Network(a.Network) == nil:
				if d.hasError("networks") {
					continue
				}
				// Composing the fix costs time in a file of many networks,
				// so it is skipped once no more errors are listed.
				fix := "define it under networks:"
				if !d.full() {
					names := networkNames(t)
					fix += " or use one of " + listNames(names)
					if s := closest(a.Network, names); s != "" {
						fix = fmt.Sprintf("did you mean %q? (networks: %s)", s, listNames(names))
					}
				}
				d.add(a.Pos, af, fix, "unknown network %q", a.Network)
				continue
			case seen[a.Network]:
				d.add(a.Pos, af, "list each network once", "network %q is listed twice", a.Network)
				continue
			}
			seen[a.Network] = true
			if a.Network == DefaultBridge {
				if len(a.Aliases) > 0 {
					d.add(d.at(af+".aliases", a.Pos), af+".aliases", "put the container on a user-defined network and give the aliases there",
						"network-scoped aliases are only supported for user-defined networks")
				}
				if a.IPv4Address.IsValid() {
					d.add(d.at(af+".ipv4_address", a.Pos), af+".ipv4_address", "put the container on a user-defined network with a subnet",
						"user specified IP address is supported on user defined networks only")
				}
				continue
			}
			n := t.Network(a.Network)
			if a.IPv4Address.IsValid() && n.Subnet.IsValid() {
				validateStaticAddress(d, d.at(af+".ipv4_address", a.Pos), af+".ipv4_address", a, n.Subnet, n.Gateway)
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
				msg := "published ports are discarded when using host network mode (Docker warns and publishes nothing)"
				if c.NetworkMode == ModeContainer {
					fix = "publish the ports on " + c.ModeTarget + " instead"
					msg = "conflicting options: port publishing and the container type network mode"
				}
				d.add(c.Ports[0].Pos, field+".ports", fix, "%s", msg)
			}
			if c.NetworkMode == ModeContainer && c.Hostname != "" {
				d.add(d.at(field+".hostname", c.ModePos), field+".hostname", "remove hostname: the container shares "+c.ModeTarget+"'s",
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

func validateStaticAddress(d *diagnostics, pos Pos, field string, a *Attachment, subnet netip.Prefix, gateway netip.Addr) {
	if !gateway.IsValid() {
		gateway = subnet.Addr().Next()
	}
	switch {
	case !subnet.Contains(a.IPv4Address):
		d.add(pos, field, fmt.Sprintf("use an address inside %s", subnet),
			"no configured subnet contains IP address %s", a.IPv4Address)
	case a.IPv4Address == subnet.Addr() || a.IPv4Address == lastAddr(subnet):
		d.add(pos, field, "use a host address of the subnet",
			"%s is the %s address of %s, which Docker reserves", a.IPv4Address, reservedKind(a.IPv4Address, subnet), subnet)
	case a.IPv4Address == gateway:
		d.add(pos, field, "use another address; the gateway has this one",
			"address %s is already in use by the gateway", a.IPv4Address)
	}
}

// reservedKind names a reserved address of subnet: "network" or "broadcast".
func reservedKind(a netip.Addr, subnet netip.Prefix) string {
	if a == subnet.Masked().Addr() {
		return "network"
	}
	return "broadcast"
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
				field := fmt.Sprintf("containers.%s.networks.%s.ipv4_address", c.Name, a.Network)
				d.add(d.at(field, a.Pos), field,
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
	for i, l := range c.Listen {
		if seen[l] {
			lf := fmt.Sprintf("%s.listen[%d]", field, i)
			d.add(d.at(lf, c.Pos), lf, "list each port once",
				"%d/%s is listed twice", l.Port, l.Proto)
		}
		seen[l] = true
	}
}

// validateModeTargets checks that every container: network mode names
// another container of the file and that no chain of them loops. Docker
// rejects a container that names itself with "cannot join own network". A
// longer loop cannot start at all, because Docker only joins the namespace
// of a running container.
func validateModeTargets(t *Topology, d *diagnostics) {
	byName := make(map[string]*Container, len(t.Containers))
	for _, c := range t.Containers {
		byName[c.Name] = c
	}
	// state is 1 while a chain that starts at the container is being
	// followed and 2 once the chain is known to end.
	state := map[string]int{}
	for _, c := range t.Containers {
		if c.NetworkMode != ModeContainer {
			continue
		}
		field := "containers." + c.Name + ".network_mode"
		pos := d.at(field, c.ModePos)
		switch target := byName[c.ModeTarget]; {
		case target == nil:
			if !d.hasError("containers") {
				d.add(pos, field, "name a container of this file", "unknown container %q (Docker: No such container: %s)",
					c.ModeTarget, c.ModeTarget)
			}
			continue
		case target == c:
			d.add(pos, field, "remove network_mode, or name another container",
				"cannot join own network: %s names itself", c.Name)
			continue
		}
		if state[c.Name] == 2 {
			continue
		}
		var chain []string
		cur := c
		for cur != nil && cur.NetworkMode == ModeContainer && state[cur.Name] == 0 {
			state[cur.Name] = 1
			chain = append(chain, cur.Name)
			cur = byName[cur.ModeTarget]
		}
		if cur != nil && cur.NetworkMode == ModeContainer && state[cur.Name] == 1 {
			// The chain runs into itself: report every member of the loop.
			loop := chain[indexOf(chain, cur.Name):]
			for i, name := range loop {
				if d.full() {
					d.dropped++
					continue
				}
				member := byName[name]
				mf := "containers." + name + ".network_mode"
				d.add(d.at(mf, member.ModePos), mf, "let one container of the loop have its own network",
					"network modes form a loop, so no container of it can start: %s", describeLoop(loop, i))
			}
		}
		for _, name := range chain {
			state[name] = 2
		}
	}
}

// describeLoop returns the loop of names from loop[start] back to it, such
// as "a -> b -> a", naming at most eight of a longer loop.
func describeLoop(loop []string, start int) string {
	const shown = 8
	var b strings.Builder
	for i := 0; i < len(loop) && i < shown; i++ {
		b.WriteString(loop[(start+i)%len(loop)])
		b.WriteString(" -> ")
	}
	if len(loop) > shown {
		fmt.Fprintf(&b, "... (%d containers) -> ", len(loop))
	}
	b.WriteString(loop[start])
	return b.String()
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// validatePorts rejects two bindings of one host address, port and
// protocol, as Docker's port allocator does: a binding on every address (no
// host IP) clashes with any other binding of the same port and protocol.
// Ports of containers that are only on internal networks are never
// published, so they clash with nothing.
func validatePorts(t *Topology, d *diagnostics) {
	type binding struct {
		container string
		spec      *PortSpec
	}
	type portKey struct {
		port  uint16
		proto string
	}
	seen := map[portKey][]binding{}
	for _, c := range t.Containers {
		if onlyInternal(t, c) {
			continue
		}
		// reported is the position of the entry last reported, so that a
		// range that clashes gives one error, not one per port.
		var reported Pos
		var items map[Pos]string
		for i := range c.Ports {
			p := &c.Ports[i]
			if p.HostPort == 0 {
				continue
			}
			k := portKey{p.HostPort, p.Proto}
			for _, b := range seen[k] {
				if reported.Line > 0 && p.Pos == reported {
					break
				}
				if b.spec.HostIP.IsValid() && p.HostIP.IsValid() && b.spec.HostIP != p.HostIP {
					continue
				}
				// Docker names the address of the binding that holds the port.
				host := "0.0.0.0"
				if b.spec.HostIP.IsValid() {
					host = b.spec.HostIP.String()
				}
				if items == nil {
					items = itemFields(d, fmt.Sprintf("containers.%s.ports", c.Name))
				}
				field, ok := items[p.Pos]
				if !ok {
					field = fmt.Sprintf("containers.%s.ports", c.Name)
				}
				d.add(d.at(field, p.Pos), field, "choose another host port, or bind the two on different host addresses",
					"Bind for %s:%d failed: port is already allocated (by %s, %q)", host, p.HostPort, b.container, b.spec.Raw)
				reported = p.Pos
				break
			}
			seen[k] = append(seen[k], binding{c.Name, p})
		}
	}
}

// itemFields maps the position of each item of list, as the loader
// recorded it, to the item's field path, such as containers.web.ports[1].
func itemFields(d *diagnostics, list string) map[Pos]string {
	items := map[Pos]string{}
	for i := 0; ; i++ {
		field := fmt.Sprintf("%s[%d]", list, i)
		p, ok := d.where[field]
		if !ok {
			return items
		}
		items[p] = field
	}
}

// onlyInternal reports whether every network of c is an internal network.
func onlyInternal(t *Topology, c *Container) bool {
	if len(c.Networks) == 0 {
		return false
	}
	for _, a := range c.Networks {
		n := t.Network(a.Network)
		if n == nil || !n.Internal {
			return false
		}
	}
	return true
}

var (
	probeKinds = []string{KindPing, KindDNS, KindHTTP, KindTCP, KindUDP}
	viaWords   = []string{"uplink", "gateway", "localhost"}
)

func validateProbe(t *Topology, d *diagnostics, p *ProbeSpec, field string, nodes map[string]Pos) {
	at := func(name string) Pos { return d.at(field+"."+name, p.Pos) }
	checkNodes := !nodesIncomplete(d)
	if p.From == "" {
		d.add(p.Pos, field+".from", "add from: with a container, outside host or host", "missing source")
	} else if _, ok := nodes[p.From]; !ok && checkNodes {
		d.add(at("from"), field+".from", "name a container, an outside host or host"+suggestNode(d, p.From, nodes),
			"unknown node %q", p.From)
	}
	if p.To == "" && p.Via == "" {
		if !d.hasError(field + ".via") {
			d.add(p.Pos, field+".to", "add to: with a node name, or via: ADDRESS:PORT", "missing target")
		}
	} else if _, ok := nodes[p.To]; p.To != "" && !ok && checkNodes {
		d.add(at("to"), field+".to", "name a container, an outside host or host"+suggestNode(d, p.To, nodes),
			"unknown node %q", p.To)
	}
	switch {
	case p.Kind == "":
		d.add(p.Pos, field+".kind", "add kind: ping, dns, http, tcp or udp", "missing probe kind")
	case !contains(probeKinds, p.Kind):
		fix := "use ping, dns, http, tcp or udp"
		if p.Kind == "icmp" {
			fix = "use kind: ping for ICMP echo"
		} else if s := closest(p.Kind, probeKinds); s != "" {
			fix = fmt.Sprintf("did you mean %q? (kinds: ping, dns, http, tcp, udp)", s)
		}
		d.add(at("kind"), field+".kind", fix, "unknown probe kind %q", p.Kind)
	}
	if p.By == "" {
		p.By = ByIP
		if p.Kind == KindDNS || p.Name != "" {
			p.By = ByName
		}
	} else if p.By != ByIP && p.By != ByName {
		d.add(at("by"), field+".by", "use ip or name", "unknown value %q", p.By)
	}
	if p.Kind == KindDNS && p.By == ByIP {
		d.add(at("by"), field+".by", "remove by: ip; a dns probe always looks up a name", "a dns probe cannot go by ip")
	}
	if p.Name != "" && p.By == ByIP {
		d.add(at("name"), field+".name", "remove name:, or set by: name", "name is only used with by: name")
	}
	if p.Network != "" {
		if p.Network != DefaultBridge && t.Network(p.Network) == nil {
			if !d.hasError("networks") {
				d.add(at("network"), field+".network", "name a network of this file or bridge", "unknown network %q", p.Network)
			}
		} else if c := t.Container(p.To); c == nil && p.To != "" {
			d.add(at("network"), field+".network", "remove network:, or probe a container",
				"network selects the target container's address, but %s is not a container", p.To)
		} else if c != nil && !attachedTo(c, p.Network) {
			d.add(at("network"), field+".network", "name a network that "+p.To+" is attached to",
				"%s is not attached to network %q", p.To, p.Network)
		}
	}
	if p.Port != 0 && p.Kind == KindPing {
		d.add(at("port"), field+".port", "remove port: ping has no ports", "ping takes no port")
	}
	if p.Via != "" {
		validateVia(d, p, field, at("via"))
	}
}

// suggestNode returns a "did you mean" clause for an unknown node name, or
// "" when no node name is close.
func suggestNode(d *diagnostics, name string, nodes map[string]Pos) string {
	if d.full() {
		// The error will not be listed; skip comparing every node name.
		return ""
	}
	names := make([]string, 0, len(nodes))
	for n := range nodes {
		names = append(names, n)
	}
	if s := closest(name, names); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
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

func validateVia(d *diagnostics, p *ProbeSpec, field string, pos Pos) {
	host, port, ok := strings.Cut(p.Via, ":")
	fix := "write ADDRESS:PORT where ADDRESS is an IPv4 address, uplink, gateway or localhost"
	if !ok {
		d.add(pos, field+".via", fix, "invalid via %q: missing port", p.Via)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		d.add(pos, field+".via", fix, "invalid via %q: port %q is not a number from 1 to 65535", p.Via, port)
	}
	if _, err := netip.ParseAddr(host); err != nil && !contains(viaWords, host) {
		d.add(pos, field+".via", fix, "invalid via %q: %q is not an address", p.Via, host)
	}
	if p.Kind == KindPing {
		d.add(pos, field+".via", "use kind: tcp, http or udp with via", "ping cannot go via a port")
	}
}

// listNames joins names for a message, naming at most 20 of them.
func listNames(names []string) string {
	const shown = 20
	if len(names) <= shown {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:shown], ", "), len(names)-shown)
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
