package capture

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Protocol names of FlowKey.Proto.
const (
	ProtoTCP    = "tcp"
	ProtoUDP    = "udp"
	ProtoICMP   = "icmp"
	ProtoICMPv6 = "icmpv6"
)

// FlowKey is a flow's 5-tuple in the direction of its initiator. For ICMP
// and ICMPv6 echo, both ports carry the echo identifier, so that the key
// of the reply is the reverse of the key of the request, as conntrack
// tuples are.
type FlowKey struct {
	Proto string         `json:"proto"`
	Src   netip.AddrPort `json:"src"`
	Dst   netip.AddrPort `json:"dst"`
}

// Reverse returns the key of the opposite direction.
func (k FlowKey) Reverse() FlowKey {
	return FlowKey{Proto: k.Proto, Src: k.Dst, Dst: k.Src}
}

// String formats k as "tcp 192.0.2.1:40000 > 192.0.2.10:8080", or for ICMP
// as "icmp 172.17.0.2 > 192.0.2.1 id 7".
func (k FlowKey) String() string {
	if k.Proto == ProtoICMP || k.Proto == ProtoICMPv6 {
		return fmt.Sprintf("%s %s > %s id %d", k.Proto, k.Src.Addr(), k.Dst.Addr(), k.Src.Port())
	}
	return fmt.Sprintf("%s %s > %s", k.Proto, k.Src, k.Dst)
}

// Counter counts packets and bytes of one direction. Bytes are frame
// lengths on the wire, Ethernet header included.
type Counter struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

func (c *Counter) add(length int) {
	c.Packets++
	c.Bytes += uint64(length)
}

// Hop is a flow as one capture point saw it.
type Hop struct {
	// Point is the index of the capture point and Label its label.
	Point int    `json:"point"`
	Label string `json:"label"`
	// First is when the point saw the flow's first packet.
	First time.Time `json:"first"`
	// Forward counts the initiator's packets, Reverse the answers.
	Forward Counter `json:"forward"`
	Reverse Counter `json:"reverse"`
}

// Flow is one conversation as the capture saw it.
type Flow struct {
	Key FlowKey `json:"key"`
	// Hops are the capture points that saw the flow, ordered by when they
	// saw its first packet.
	Hops []Hop `json:"hops"`
	// Forward and Reverse count each direction on the hop that saw the most
	// packets of the flow, so that a packet seen on several interfaces is
	// counted once.
	Forward Counter   `json:"forward"`
	Reverse Counter   `json:"reverse"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	// TCPFlags lists the TCP flags seen in either direction, such as
	// "SYN,ACK,FIN", and is empty for other protocols.
	TCPFlags string `json:"tcp_flags,omitempty"`
	// ICMPErrors counts ICMP error messages, such as port unreachable,
	// that quote a packet of this flow.
	ICMPErrors int `json:"icmp_errors,omitempty"`
	// Probe is the label of the probe whose annotation matched the flow,
	// empty when none did.
	Probe string `json:"probe,omitempty"`
}

// Annotation ties the flows a probe caused to the probe. A flow matches when
// its first packet falls within [Start, End] and it agrees with every filter
// field that is set. When several annotations match, the one with the
// shortest window wins.
type Annotation struct {
	Probe string    `json:"probe"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Proto, when not empty, is the flow's protocol (ProtoTCP, ...).
	Proto string `json:"proto,omitempty"`
	// Src and Dst, when valid, are the initiator's source and destination
	// addresses. A flow after a NAT rewrite usually matches neither, but
	// the translations of Capture.NAT carry the probe of either side.
	Src netip.Addr `json:"src,omitzero"`
	Dst netip.Addr `json:"dst,omitzero"`
	// Port, when not 0, is the destination port, which for ICMP echo is
	// the identifier.
	Port uint16 `json:"port,omitempty"`
}

func (a Annotation) matches(f *Flow) bool {
	switch {
	case f.First.Before(a.Start) || f.First.After(a.End):
		return false
	case a.Proto != "" && a.Proto != f.Key.Proto:
		return false
	case a.Src.IsValid() && a.Src != f.Key.Src.Addr():
		return false
	case a.Dst.IsValid() && a.Dst != f.Key.Dst.Addr():
		return false
	case a.Port != 0 && a.Port != f.Key.Dst.Port():
		return false
	}
	return true
}

// Annotate records probe annotations. Flows computed afterwards carry the
// probe labels. It is safe to call while other goroutines read c.
func (c *Capture) Annotate(a ...Annotation) {
	c.mu.Lock()
	c.annotations = append(c.annotations, a...)
	c.mu.Unlock()
}

// Annotations returns the recorded probe annotations.
func (c *Capture) Annotations() []Annotation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Annotation(nil), c.annotations...)
}

// Flows returns the flow table of the capture, ordered by first packet.
// Frames that carry no IPv4 or IPv6 TCP, UDP or ICMP echo, such as ARP, are
// not part of any flow.
func (c *Capture) Flows() []Flow {
	table := newFlowTable(c.Points)
	for _, p := range c.Packets {
		table.add(p)
	}
	flows := table.flows()

	annotations := c.Annotations()
	for i := range flows {
		flows[i].Probe = probeOf(annotations, &flows[i])
	}
	return flows
}

// probeOf returns the probe of the annotation that matches f with the
// shortest window, or "".
func probeOf(annotations []Annotation, f *Flow) string {
	best := -1
	for j, a := range annotations {
		if !a.matches(f) {
			continue
		}
		if best < 0 || a.End.Sub(a.Start) < annotations[best].End.Sub(annotations[best].Start) {
			best = j
		}
	}
	if best < 0 {
		return ""
	}
	return annotations[best].Probe
}

// flowTable builds flows from packets fed in timestamp order.
type flowTable struct {
	points []Point
	byKey  map[FlowKey]*flowState
	order  []*flowState
	dec    *decoder
}

type flowState struct {
	flow  Flow
	hops  map[int]*Hop
	flags tcpFlags
}

func newFlowTable(points []Point) *flowTable {
	return &flowTable{points: points, byKey: map[FlowKey]*flowState{}, dec: newDecoder()}
}

func (t *flowTable) add(p Packet) {
	d, ok := t.dec.decode(p.Data)
	if !ok {
		return
	}
	if d.icmpError {
		// The quoted packet went from the flow's peer towards the sender of
		// the error, so either direction of its key may be the flow's.
		if st := t.lookup(d.key); st != nil {
			st.flow.ICMPErrors++
		} else if st := t.lookup(d.key.Reverse()); st != nil {
			st.flow.ICMPErrors++
		}
		return
	}

	st, forward := t.byKey[d.key], true
	if st == nil {
		if st = t.byKey[d.key.Reverse()]; st != nil {
			forward = false
		}
	}
	if st == nil {
		key := d.key
		if d.answer {
			// The first packet seen is an answer (a SYN-ACK or an echo reply),
			// so its destination started the flow.
			key, forward = key.Reverse(), false
		}
		st = &flowState{flow: Flow{Key: key, First: p.Timestamp}, hops: map[int]*Hop{}}
		t.byKey[key] = st
		t.order = append(t.order, st)
	}
	st.flow.Last = p.Timestamp
	if d.tcp != nil {
		mergeTCPFlags(&st.flags, d.tcp)
	}

	hop := st.hops[p.Point]
	if hop == nil {
		hop = &Hop{Point: p.Point, Label: t.label(p.Point), First: p.Timestamp}
		st.hops[p.Point] = hop
	}
	if forward {
		hop.Forward.add(p.Length)
	} else {
		hop.Reverse.add(p.Length)
	}
}

func (t *flowTable) lookup(k FlowKey) *flowState {
	return t.byKey[k]
}

func (t *flowTable) label(point int) string {
	if point >= 0 && point < len(t.points) {
		return t.points[point].Label
	}
	return fmt.Sprintf("interface %d", point)
}

func (t *flowTable) flows() []Flow {
	out := make([]Flow, 0, len(t.order))
	for _, st := range t.order {
		f := st.flow
		var maxPackets uint64
		for _, h := range st.hops {
			f.Hops = append(f.Hops, *h)
			if n := h.Forward.Packets + h.Reverse.Packets; n > maxPackets {
				maxPackets = n
				f.Forward, f.Reverse = h.Forward, h.Reverse
			}
		}
		sort.Slice(f.Hops, func(i, j int) bool {
			if !f.Hops[i].First.Equal(f.Hops[j].First) {
				return f.Hops[i].First.Before(f.Hops[j].First)
			}
			return f.Hops[i].Point < f.Hops[j].Point
		})
		if f.Key.Proto == ProtoTCP {
			f.TCPFlags = tcpFlagString(&st.flags)
		}
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].First.Before(out[j].First) })
	return out
}

func mergeTCPFlags(acc, t *tcpFlags) {
	acc.SYN = acc.SYN || t.SYN
	acc.ACK = acc.ACK || t.ACK
	acc.FIN = acc.FIN || t.FIN
	acc.RST = acc.RST || t.RST
	acc.PSH = acc.PSH || t.PSH
}

func tcpFlagString(t *tcpFlags) string {
	s := ""
	for _, f := range []struct {
		set  bool
		name string
	}{{t.SYN, "SYN"}, {t.ACK, "ACK"}, {t.PSH, "PSH"}, {t.FIN, "FIN"}, {t.RST, "RST"}} {
		if f.set {
			if s != "" {
				s += ","
			}
			s += f.name
		}
	}
	return s
}

// decoded is what the flow table needs of one frame.
type decoded struct {
	key FlowKey
	// answer is true for a SYN-ACK or an echo reply, whose destination is
	// the flow's initiator.
	answer bool
	// icmpError is true for an ICMP error, whose key is the key of the
	// quoted packet.
	icmpError bool
	tcp       *tcpFlags
}

// tcpFlags are the TCP flags the flow table reports.
type tcpFlags struct{ SYN, ACK, PSH, FIN, RST bool }

// decoder parses Ethernet frames into flow keys without allocating per
// frame. It is not safe for concurrent use.
type decoder struct {
	parser  *gopacket.DecodingLayerParser
	types   []gopacket.LayerType
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
	icmp4   layers.ICMPv4
	icmp6   layers.ICMPv6
	echo6   layers.ICMPv6Echo
	payload gopacket.Payload
	inner   *decoder
}

func newDecoder() *decoder {
	d := &decoder{}
	d.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet,
		&d.eth, &d.dot1q, &d.ip4, &d.ip6, &d.tcp, &d.udp, &d.icmp4, &d.icmp6, &d.echo6, &d.payload)
	d.parser.IgnoreUnsupported = true
	return d
}

// decode returns the flow key of an Ethernet frame, and false for frames
// that belong to no flow.
func (d *decoder) decode(frame []byte) (decoded, bool) {
	d.parser.DecodeLayers(frame, &d.types) //nolint:errcheck // truncated frames keep the layers decoded so far
	return d.fromLayers()
}

// decodeIP decodes a bare IP packet, as quoted in an ICMP error. Quotes
// carry only the first 8 bytes of the transport header, which is enough for
// ports and echo identifiers.
func (d *decoder) decodeIP(packet []byte, v6 bool) (decoded, bool) {
	first := layers.LayerTypeIPv4
	if v6 {
		first = layers.LayerTypeIPv6
	}
	d.types = d.types[:0]
	var df gopacket.DecodeFeedback = gopacket.NilDecodeFeedback
	var typ = first
	for len(packet) > 0 {
		layer := d.layer(typ)
		if layer == nil {
			break
		}
		if err := layer.DecodeFromBytes(packet, df); err != nil {
			// A quoted TCP header is 8 bytes, shorter than a full one: take
			// the ports by hand.
			if typ == layers.LayerTypeTCP && len(packet) >= 4 {
				d.tcp = layers.TCP{SrcPort: layers.TCPPort(be16(packet)), DstPort: layers.TCPPort(be16(packet[2:]))}
				d.types = append(d.types, typ)
			}
			break
		}
		d.types = append(d.types, typ)
		typ = layer.NextLayerType()
		packet = layer.LayerPayload()
	}
	return d.fromLayers()
}

func (d *decoder) layer(t gopacket.LayerType) gopacket.DecodingLayer {
	switch t {
	case layers.LayerTypeIPv4:
		return &d.ip4
	case layers.LayerTypeIPv6:
		return &d.ip6
	case layers.LayerTypeTCP:
		return &d.tcp
	case layers.LayerTypeUDP:
		return &d.udp
	case layers.LayerTypeICMPv4:
		return &d.icmp4
	case layers.LayerTypeICMPv6:
		return &d.icmp6
	case layers.LayerTypeICMPv6Echo:
		return &d.echo6
	}
	return nil
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func (d *decoder) fromLayers() (decoded, bool) {
	var out decoded
	var src, dst netip.Addr
	haveIP, v6 := false, false
	for _, t := range d.types {
		switch t {
		case layers.LayerTypeIPv4:
			if d.ip4.FragOffset != 0 {
				// A later fragment carries no transport header.
				return out, false
			}
			src, _ = netip.AddrFromSlice(d.ip4.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(d.ip4.DstIP.To4())
			haveIP = src.IsValid() && dst.IsValid()
		case layers.LayerTypeIPv6:
			src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
			haveIP, v6 = src.IsValid() && dst.IsValid(), true
		case layers.LayerTypeTCP:
			if !haveIP {
				return out, false
			}
			out.key = FlowKey{ProtoTCP,
				netip.AddrPortFrom(src, uint16(d.tcp.SrcPort)), netip.AddrPortFrom(dst, uint16(d.tcp.DstPort))}
			out.answer = d.tcp.SYN && d.tcp.ACK
			out.tcp = &tcpFlags{d.tcp.SYN, d.tcp.ACK, d.tcp.PSH, d.tcp.FIN, d.tcp.RST}
			return out, true
		case layers.LayerTypeUDP:
			if !haveIP {
				return out, false
			}
			out.key = FlowKey{ProtoUDP,
				netip.AddrPortFrom(src, uint16(d.udp.SrcPort)), netip.AddrPortFrom(dst, uint16(d.udp.DstPort))}
			return out, true
		case layers.LayerTypeICMPv4:
			if !haveIP || v6 {
				return out, false
			}
			return d.icmp4Key(src, dst)
		case layers.LayerTypeICMPv6:
			if !haveIP || !v6 {
				return out, false
			}
			return d.icmp6Key(src, dst)
		}
	}
	return out, false
}

func (d *decoder) icmp4Key(src, dst netip.Addr) (decoded, bool) {
	var out decoded
	switch d.icmp4.TypeCode.Type() {
	case layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply:
		id := d.icmp4.Id
		out.key = FlowKey{ProtoICMP, netip.AddrPortFrom(src, id), netip.AddrPortFrom(dst, id)}
		out.answer = d.icmp4.TypeCode.Type() == layers.ICMPv4TypeEchoReply
		return out, true
	case layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4TypeTimeExceeded, layers.ICMPv4TypeParameterProblem:
		return d.quoted(d.icmp4.Payload, false)
	}
	return out, false
}

func (d *decoder) icmp6Key(src, dst netip.Addr) (decoded, bool) {
	var out decoded
	switch d.icmp6.TypeCode.Type() {
	case layers.ICMPv6TypeEchoRequest, layers.ICMPv6TypeEchoReply:
		// The echo layer follows the ICMPv6 layer only when the parser
		// reached it.
		if len(d.icmp6.Payload) < 4 {
			return out, false
		}
		id := be16(d.icmp6.Payload)
		out.key = FlowKey{ProtoICMPv6, netip.AddrPortFrom(src, id), netip.AddrPortFrom(dst, id)}
		out.answer = d.icmp6.TypeCode.Type() == layers.ICMPv6TypeEchoReply
		return out, true
	case layers.ICMPv6TypeDestinationUnreachable, layers.ICMPv6TypeTimeExceeded,
		layers.ICMPv6TypeParameterProblem, layers.ICMPv6TypePacketTooBig:
		// The quote follows 4 bytes of type-specific data.
		if len(d.icmp6.Payload) < 4 {
			return out, false
		}
		return d.quoted(d.icmp6.Payload[4:], true)
	}
	return out, false
}

// quoted decodes the packet quoted by an ICMP error. An error that quotes
// another error yields nothing, so decoding never recurses further.
func (d *decoder) quoted(packet []byte, v6 bool) (decoded, bool) {
	if d.inner == nil {
		d.inner = &decoder{}
	}
	q, ok := d.inner.decodeIP(packet, v6)
	if !ok || q.icmpError {
		return decoded{}, false
	}
	return decoded{key: q.key, icmpError: true}, true
}
