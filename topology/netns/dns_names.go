package netns

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/topolab/topolab/topology"
)

// networkRecords are the DNS records Docker's embedded DNS server keeps for
// one user-defined network: every DNS name of every endpoint on it, and the
// reverse name of every endpoint address.
type networkRecords struct {
	network string
	// names maps a lower-case DNS name to its addresses in plan order. A
	// name shared by several containers, such as an alias, has several.
	names map[string][]netip.Addr
	// reverse maps the PTR owner name of an address (3.0.18.172.in-addr.arpa.)
	// to "<first DNS name>.<network>".
	reverse map[string]string
}

// nameTable holds the records of the networks of one container, in the
// order in which the embedded DNS server consults them.
type nameTable []networkRecords

// newNameTable collects the records of the user-defined networks of c, in
// topology.SortEndpoints order. Only containers on a network that c is on
// appear, as in Docker, where each network has its own records.
func newNameTable(plan *topology.Plan, c *topology.PlannedContainer) nameTable {
	var table nameTable
	for _, iface := range topology.SortEndpoints(plan, c.Interfaces) {
		n := plan.Network(iface.Network)
		if n == nil || !n.UserDefined() {
			continue
		}
		table = append(table, collectRecords(plan, n.Name))
	}
	return table
}

func collectRecords(plan *topology.Plan, network string) networkRecords {
	rec := networkRecords{
		network: network,
		names:   map[string][]netip.Addr{},
		reverse: map[string]string{},
	}
	for _, pc := range plan.Containers {
		iface := pc.Interface(network)
		if iface == nil || len(iface.DNSNames) == 0 {
			continue
		}
		addr := iface.Address.Addr()
		for _, name := range iface.DNSNames {
			key := strings.ToLower(name)
			if !containsAddr(rec.names[key], addr) {
				rec.names[key] = append(rec.names[key], addr)
			}
		}
		// The first registration of an address wins, and its first DNS
		// name is the container name.
		ptr, err := dns.ReverseAddr(addr.String())
		if err != nil {
			continue
		}
		if _, taken := rec.reverse[ptr]; !taken {
			rec.reverse[ptr] = iface.DNSNames[0] + "." + network
		}
	}
	return rec
}

func containsAddr(addrs []netip.Addr, a netip.Addr) bool {
	for _, b := range addrs {
		if a == b {
			return true
		}
	}
	return false
}

// lookup returns the addresses of qname and whether any network of the
// table has the name. It follows libnetwork's Sandbox.ResolveName: the
// whole name is tried on every network first, then for each dot from the
// right, the part before it on the network named by the part after it
// (alpine2.alpine-net is alpine2 on alpine-net). The first network that
// has the name wins, and its addresses are not merged with other
// networks'. The name part is case-insensitive and the network part is not,
// as in libnetwork. The returned slice is a copy.
func (t nameTable) lookup(qname string) ([]netip.Addr, bool) {
	name := strings.TrimSuffix(qname, ".")
	if name == "" {
		return nil, false
	}
	names, networks := []string{name}, []string{""}
	for rest := name; ; {
		i := strings.LastIndexByte(rest, '.')
		if i < 0 {
			break
		}
		names = append(names, name[:i])
		networks = append(networks, name[i+1:])
		rest = rest[:i]
	}
	for i := range names {
		key := strings.ToLower(names[i])
		for _, rec := range t {
			if networks[i] != "" && networks[i] != rec.network {
				continue
			}
			if addrs, ok := rec.names[key]; ok {
				return append([]netip.Addr(nil), addrs...), true
			}
		}
	}
	return nil, false
}

// lookupPTR returns the name for the PTR owner name qname, such as
// 3.0.18.172.in-addr.arpa., from the first network that has the address.
// As in libnetwork, the owner name must end in exactly ".in-addr.arpa.";
// other spellings are left to the upstream server.
func (t nameTable) lookupPTR(qname string) (string, bool) {
	if !strings.HasSuffix(qname, ".in-addr.arpa.") {
		return "", false
	}
	for _, rec := range t {
		if host, ok := rec.reverse[qname]; ok {
			return host, true
		}
	}
	return "", false
}
