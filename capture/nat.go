package capture

import (
	"net/netip"
	"slices"
	"sort"
	"time"
)

// Kinds of Translation.
const (
	// KindNone is a conntrack entry that rewrites nothing. ReadConntrack
	// returns them so that PairProxies can find the two connections of the
	// userland proxy.
	KindNone = "none"
	// KindMasquerade rewrites the source: a container reaching beyond the
	// lab host leaves from the uplink address.
	KindMasquerade = "masquerade"
	// KindDNAT rewrites the destination: a published port forwards to the
	// container.
	KindDNAT = "dnat"
	// KindHairpin is a container reaching a published port of a container
	// on its own bridge. Conntrack shows the destination rewritten, and the
	// source too where a masquerade forces the reply back through the lab
	// host. Capture.NAT also gives this kind to a DNAT whose packets entered
	// and left through one capture point.
	KindHairpin = "hairpin"
	// KindUserlandProxy is two connections: the client's to the published
	// host port, which the proxy accepts, and the proxy's own from the
	// bridge gateway to the container port.
	KindUserlandProxy = "userland-proxy"
)

// PortMapping is a published port, with the fields of topology.PortBinding
// that pairing needs. The package does not import topology, so that it
// builds on its own.
type PortMapping struct {
	// HostIP is the address the port is published on. An invalid or
	// unspecified (0.0.0.0) address means every host address.
	HostIP        netip.Addr `json:"host_ip"`
	HostPort      uint16     `json:"host_port"`
	ContainerIP   netip.Addr `json:"container_ip"`
	ContainerPort uint16     `json:"container_port"`
	// Proto is ProtoTCP or ProtoUDP, and empty means ProtoTCP.
	Proto string `json:"proto"`
}

// Translation is one connection as it was before and after the lab host
// rewrote it.
type Translation struct {
	Kind string `json:"kind"`
	// Original is the connection as the client sent it: conntrack's
	// original tuple.
	Original FlowKey `json:"original"`
	// Translated is the forward direction after the rewrite, the reverse of
	// conntrack's reply tuple. For KindUserlandProxy it is the proxy's
	// connection to the container.
	Translated FlowKey `json:"translated"`
	// Start is when the connection began: conntrack's start timestamp when
	// the kernel records it (net.netfilter.nf_conntrack_timestamp), else
	// the first packet captured, else zero.
	Start time.Time `json:"start,omitzero"`
	// Before and After are the captured flows of Original and Translated,
	// or nil when the capture did not see them.
	Before *FlowRef `json:"before"`
	After  *FlowRef `json:"after"`
	// Confirmed is true when packets of both Before and After were seen.
	Confirmed bool `json:"confirmed"`
	// Probe is the probe that caused the connection, when annotated.
	Probe string `json:"probe,omitempty"`
	// Note explains a pairing that relied on less than timing, such as
	// two proxy connections paired by port alone.
	Note string `json:"note,omitempty"`
	// OriginalCounter and ReplyCounter are conntrack's per-direction
	// counters, zero unless the kernel counts them
	// (net.netfilter.nf_conntrack_acct).
	OriginalCounter Counter `json:"original_counter,omitzero"`
	ReplyCounter    Counter `json:"reply_counter,omitzero"`
}

// FlowRef is the part of a captured flow that a translation shows.
type FlowRef struct {
	Key FlowKey `json:"key"`
	// Points are the labels of the capture points that saw the flow, in
	// the order they first saw it.
	Points  []string  `json:"points"`
	First   time.Time `json:"first"`
	Forward Counter   `json:"forward"`
	Reverse Counter   `json:"reverse"`
}

func refOf(f *Flow) *FlowRef {
	r := &FlowRef{Key: f.Key, First: f.First, Forward: f.Forward, Reverse: f.Reverse}
	for _, h := range f.Hops {
		r.Points = append(r.Points, h.Label)
	}
	return r
}

// classify names the rewrite between a conntrack original tuple and the
// forward direction after NAT.
func classify(original, translated FlowKey) string {
	srcRewritten := original.Src != translated.Src
	dstRewritten := original.Dst != translated.Dst
	switch {
	case srcRewritten && dstRewritten:
		if original.Src.Addr().IsLoopback() {
			// Loopback clients of a published port (route_localnet) get
			// their source rewritten too, but they are not hairpin.
			return KindDNAT
		}
		return KindHairpin
	case srcRewritten:
		return KindMasquerade
	case dstRewritten:
		return KindDNAT
	}
	return KindNone
}

// proxyWindow is how long after a client's connection the userland proxy's
// connection to the container may start and still be paired with it.
const proxyWindow = time.Second

// PairProxies finds the userland proxy's connection pairs among conntrack
// entries of KindNone. For each published port, a client connection to the
// host port is paired with the next proxy connection to the container port
// that started within a second after it, or in list order when the entries
// carry no start times (Note records this). It returns only the pairs.
func PairProxies(entries []Translation, ports []PortMapping) []Translation {
	used := map[int]bool{}
	var out []Translation
	for _, b := range ports {
		proto := b.Proto
		if proto == "" {
			proto = ProtoTCP
		}
		var clients, backends []int
		for i, e := range entries {
			if e.Kind != KindNone || e.Original.Proto != proto {
				continue
			}
			dst := e.Original.Dst
			switch {
			case dst.Addr() == b.ContainerIP && dst.Port() == b.ContainerPort:
				backends = append(backends, i)
			case dst.Port() == b.HostPort && (!b.HostIP.IsValid() || b.HostIP.IsUnspecified() || b.HostIP == dst.Addr()):
				clients = append(clients, i)
			}
		}
		for _, ci := range clients {
			bi, note := pickBackend(entries, ci, backends, used)
			if bi < 0 {
				continue
			}
			used[bi], used[ci] = true, true
			t := Translation{
				Kind:            KindUserlandProxy,
				Original:        entries[ci].Original,
				Translated:      entries[bi].Original,
				Start:           entries[ci].Start,
				Note:            note,
				OriginalCounter: entries[ci].OriginalCounter,
				ReplyCounter:    entries[ci].ReplyCounter,
			}
			out = append(out, t)
		}
	}
	return out
}

func pickBackend(entries []Translation, client int, backends []int, used map[int]bool) (int, string) {
	start := entries[client].Start
	best := -1
	if !start.IsZero() {
		for _, bi := range backends {
			s := entries[bi].Start
			if used[bi] || s.IsZero() || s.Before(start) || s.Sub(start) > proxyWindow {
				continue
			}
			if best < 0 || s.Before(entries[best].Start) {
				best = bi
			}
		}
		if best >= 0 {
			return best, ""
		}
	}
	for _, bi := range backends {
		if !used[bi] {
			return bi, "paired by port only: no start times to compare"
		}
	}
	return -1, ""
}

// NAT returns the translations among conntrack entries, such as those of
// ReadConntrack: the rewritten connections plus the userland proxy pairs
// of ports. Each translation is matched to the captured flows of its
// Original and Translated keys, marked Confirmed when both were seen, and
// given the probe of either flow. Entries that lack a start time get the
// time of their first captured packet, which PairProxies then compares.
func (c *Capture) NAT(entries []Translation, ports []PortMapping) []Translation {
	flows := c.Flows()
	byKey := make(map[FlowKey]*Flow, 2*len(flows))
	for i := range flows {
		byKey[flows[i].Key] = &flows[i]
	}
	find := func(k FlowKey) *Flow {
		if f := byKey[k]; f != nil {
			return f
		}
		return byKey[k.Reverse()]
	}

	entries = append([]Translation(nil), entries...)
	for i := range entries {
		if f := find(entries[i].Original); f != nil && entries[i].Start.IsZero() {
			entries[i].Start = f.First
		}
	}

	var out []Translation
	for _, e := range entries {
		if e.Kind != KindNone {
			out = append(out, e)
		}
	}
	out = append(out, PairProxies(entries, ports)...)

	for i := range out {
		t := &out[i]
		if f := find(t.Original); f != nil {
			t.Before = refOf(f)
			t.Probe = f.Probe
		}
		if f := find(t.Translated); f != nil {
			t.After = refOf(f)
			if t.Probe == "" && t.Before == nil {
				// The connection before the rewrite was not captured, as
				// with the host's own connections, which OUTPUT rewrites
				// before they reach any interface. Its key still tells
				// which probe opened it.
				t.Probe = probeOf(c.Annotations(), &Flow{Key: t.Original, First: f.First})
			}
			if t.Probe == "" {
				t.Probe = f.Probe
			}
		}
		t.Confirmed = t.Before != nil && t.After != nil
		if t.Kind == KindDNAT && t.Confirmed && sharePoint(t.Before, t.After) {
			// The connection entered and left the lab host through the same
			// interface, such as a bridge: a container reached a published
			// port of its own network, which br_netfilter lets work without
			// a source rewrite.
			t.Kind = KindHairpin
		}
	}
	sortTranslations(out)
	return out
}

func sharePoint(a, b *FlowRef) bool {
	for _, p := range a.Points {
		if slices.Contains(b.Points, p) {
			return true
		}
	}
	return false
}

func sortTranslations(t []Translation) {
	sort.SliceStable(t, func(i, j int) bool {
		if !t[i].Start.Equal(t[j].Start) {
			return t[i].Start.Before(t[j].Start)
		}
		return t[i].Original.String() < t[j].Original.String()
	})
}

// translatedKey turns a conntrack reply tuple into the forward direction
// after NAT.
func translatedKey(reply FlowKey) FlowKey { return reply.Reverse() }

// validKey reports whether k has both addresses set.
func validKey(k FlowKey) bool {
	return k.Src.Addr().IsValid() && k.Dst.Addr().IsValid() && k.Proto != ""
}
