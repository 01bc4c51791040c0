package capture

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// tcpFrame builds an Ethernet frame carrying a TCP segment of key with the
// given flags.
func tcpFrame(t *testing.T, key FlowKey, syn, ack bool) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: key.Src.Addr().AsSlice(), DstIP: key.Dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(key.Src.Port()), DstPort: layers.TCPPort(key.Dst.Port()), SYN: syn, ACK: ack, Window: 1024}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func key(proto, src, dst string) FlowKey {
	return FlowKey{Proto: proto, Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst)}
}

func TestNATHairpinBySharedPoint(t *testing.T) {
	before := key(ProtoTCP, "172.17.0.3:40000", "192.0.2.10:8080")
	after := key(ProtoTCP, "172.17.0.3:40000", "172.17.0.2:80")
	t0 := time.Unix(1000, 0)
	c := &Capture{Points: []Point{{Label: "c2 veth"}, {Label: "docker0"}, {Label: "c1 veth"}}}
	add := func(point int, k FlowKey, syn, ack bool, dt time.Duration) {
		data := tcpFrame(t, k, syn, ack)
		c.Packets = append(c.Packets, Packet{Timestamp: t0.Add(dt), Point: point, Length: len(data), Data: data})
	}
	add(0, before, true, false, 0)
	add(1, before, true, false, 1)
	add(1, after, true, false, 2)
	add(2, after, true, false, 3)
	add(2, after.Reverse(), true, true, 4)

	entries := []Translation{{Kind: KindDNAT, Original: before, Translated: after}}
	nat := c.NAT(entries, nil)
	if len(nat) != 1 {
		t.Fatalf("NAT returned %d translations, want 1", len(nat))
	}
	if nat[0].Kind != KindHairpin {
		t.Errorf("DNAT seen on docker0 before and after has kind %s, want %s", nat[0].Kind, KindHairpin)
	}
	if !nat[0].Confirmed {
		t.Error("translation not confirmed")
	}
	if !nat[0].Start.Equal(t0) {
		t.Errorf("Start = %v, want the first packet's time %v", nat[0].Start, t0)
	}
}

func TestFlowDirectionFromSynAck(t *testing.T) {
	k := key(ProtoTCP, "192.0.2.1:40000", "192.0.2.10:8080")
	data := tcpFrame(t, k.Reverse(), true, true)
	c := &Capture{Points: []Point{{Label: "uplink"}},
		Packets: []Packet{{Timestamp: time.Unix(1, 0), Length: len(data), Data: data}}}
	flows := c.Flows()
	if len(flows) != 1 {
		t.Fatalf("got %d flows, want 1", len(flows))
	}
	if flows[0].Key != k {
		t.Errorf("flow key = %v, want the SYN-ACK's destination as initiator: %v", flows[0].Key, k)
	}
	if flows[0].Reverse.Packets != 1 || flows[0].Forward.Packets != 0 {
		t.Errorf("counters forward %d reverse %d, want 0 and 1", flows[0].Forward.Packets, flows[0].Reverse.Packets)
	}
}

func TestPairProxiesByTime(t *testing.T) {
	t0 := time.Unix(1000, 0)
	entries := []Translation{
		{Kind: KindNone, Original: key(ProtoTCP, "127.0.0.1:5000", "127.0.0.1:8080"), Start: t0},
		{Kind: KindNone, Original: key(ProtoTCP, "127.0.0.1:5001", "127.0.0.1:8080"), Start: t0.Add(time.Second * 5)},
		{Kind: KindNone, Original: key(ProtoTCP, "172.17.0.1:6001", "172.17.0.2:80"), Start: t0.Add(5*time.Second + time.Millisecond)},
		{Kind: KindNone, Original: key(ProtoTCP, "172.17.0.1:6000", "172.17.0.2:80"), Start: t0.Add(time.Millisecond)},
	}
	ports := []PortMapping{{HostPort: 8080, ContainerIP: netip.MustParseAddr("172.17.0.2"), ContainerPort: 80}}
	pairs := PairProxies(entries, ports)
	if len(pairs) != 2 {
		t.Fatalf("PairProxies returned %d pairs, want 2", len(pairs))
	}
	for _, p := range pairs {
		if p.Kind != KindUserlandProxy {
			t.Errorf("pair kind %s, want %s", p.Kind, KindUserlandProxy)
		}
		if p.Note != "" {
			t.Errorf("pair %v has note %q, want pairing by time", p.Original, p.Note)
		}
		want := map[uint16]uint16{5000: 6000, 5001: 6001}[p.Original.Src.Port()]
		if got := p.Translated.Src.Port(); got != want {
			t.Errorf("client port %d paired with proxy port %d, want %d", p.Original.Src.Port(), got, want)
		}
	}
}

func TestPairProxiesWithoutTimes(t *testing.T) {
	entries := []Translation{
		{Kind: KindNone, Original: key(ProtoTCP, "127.0.0.1:5000", "127.0.0.1:8080")},
		{Kind: KindNone, Original: key(ProtoTCP, "172.17.0.1:6000", "172.17.0.2:80")},
		{Kind: KindNone, Original: key(ProtoTCP, "172.17.0.1:7000", "172.17.0.9:80")},
	}
	ports := []PortMapping{{HostPort: 8080, ContainerIP: netip.MustParseAddr("172.17.0.2"), ContainerPort: 80}}
	pairs := PairProxies(entries, ports)
	if len(pairs) != 1 {
		t.Fatalf("PairProxies returned %d pairs, want 1", len(pairs))
	}
	if pairs[0].Note == "" {
		t.Error("pair made without start times has no note")
	}
	if got := pairs[0].Translated.Dst.Addr().String(); got != "172.17.0.2" {
		t.Errorf("paired with a connection to %s, want 172.17.0.2", got)
	}
}

func TestFlowCountsICMPErrors(t *testing.T) {
	k := key(ProtoUDP, "172.17.0.2:5353", "172.17.0.3:9")
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	eth := func() *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
			EthernetType: layers.EthernetTypeIPv4}
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: k.Src.Addr().AsSlice(), DstIP: k.Dst.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(k.Src.Port()), DstPort: layers.UDPPort(k.Dst.Port())}
	udp.SetNetworkLayerForChecksum(ip)
	datagram := ser(ip, udp, gopacket.Payload("query"))
	request := ser(eth(), ip, udp, gopacket.Payload("query"))

	errIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: k.Dst.Addr().AsSlice(), DstIP: k.Src.Addr().AsSlice()}
	icmpErr := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort)}
	unreachable := ser(eth(), errIP, icmpErr, gopacket.Payload(datagram[:28]))

	c := &Capture{Points: []Point{{Label: "docker0"}}, Packets: []Packet{
		{Timestamp: time.Unix(1, 0), Length: len(request), Data: request},
		{Timestamp: time.Unix(2, 0), Length: len(unreachable), Data: unreachable},
	}}
	flows := c.Flows()
	if len(flows) != 1 {
		t.Fatalf("got %d flows, want the UDP flow alone: %+v", len(flows), flows)
	}
	if flows[0].Key != k {
		t.Errorf("flow key = %v, want %v", flows[0].Key, k)
	}
	if flows[0].ICMPErrors != 1 {
		t.Errorf("ICMPErrors = %d, want 1", flows[0].ICMPErrors)
	}
}
