package capture

import (
	"net/netip"
	"slices"
	"testing"
)

// Addresses of the test lab. The uplink and the outside router use
// documentation addresses, as topolab's labs do.
var (
	bridgeNet   = netip.MustParsePrefix("172.17.0.0/16")
	gatewayIP   = "172.17.0.1"
	c1IP        = netip.MustParseAddr("172.17.0.2")
	c2IP        = netip.MustParseAddr("172.17.0.3")
	uplinkIP    = netip.MustParseAddr("192.0.2.10")
	routerIP    = netip.MustParseAddr("192.0.2.1")
	publishPort = uint16(8080)
	proxyPort   = uint16(8081)
)

// Labels of the test lab's capture points.
const (
	labelC1     = "c1 eth0 on bridge"
	labelC2     = "c2 eth0 on bridge"
	labelBridge = "docker0"
	labelUplink = "uplink"
	labelLo     = "host lo"
)

// recordedLab is testdata/lab.json: what a run of the test lab produced
// besides its pcapng file.
type recordedLab struct {
	Conntrack   []Translation  `json:"conntrack"`
	Annotations []Annotation   `json:"annotations"`
	ClientPort  netip.AddrPort `json:"client_port"`
}

func findFlow(flows []Flow, match func(FlowKey) bool) *Flow {
	for i := range flows {
		if match(flows[i].Key) {
			return &flows[i]
		}
	}
	return nil
}

func hopLabels(f *Flow) []string {
	var out []string
	for _, h := range f.Hops {
		out = append(out, h.Label)
	}
	return out
}

// checkLabFlows checks the flow table of a test lab run whose outside client
// connected from client.
func checkLabFlows(t *testing.T, flows []Flow, client netip.AddrPort) {
	t.Helper()
	pre := findFlow(flows, func(k FlowKey) bool {
		return k.Proto == ProtoICMP && k.Src.Addr() == c1IP && k.Dst.Addr() == routerIP
	})
	if pre == nil {
		t.Fatalf("no ICMP flow from %s to %s in %v", c1IP, routerIP, flows)
	}
	if got := hopLabels(pre); !slices.Equal(got, []string{labelC1, labelBridge}) {
		t.Errorf("pre-NAT ping crossed %v, want [%s %s]", got, labelC1, labelBridge)
	}
	if pre.Forward.Packets != 1 || pre.Reverse.Packets != 1 {
		t.Errorf("pre-NAT ping counts %d requests and %d replies, want 1 and 1", pre.Forward.Packets, pre.Reverse.Packets)
	}
	if pre.Probe != "c1 ping outside" {
		t.Errorf("pre-NAT ping has probe %q, want %q", pre.Probe, "c1 ping outside")
	}

	post := findFlow(flows, func(k FlowKey) bool {
		return k.Proto == ProtoICMP && k.Src.Addr() == uplinkIP && k.Dst.Addr() == routerIP
	})
	if post == nil {
		t.Fatalf("no masqueraded ICMP flow from %s to %s", uplinkIP, routerIP)
	}
	if got := hopLabels(post); !slices.Equal(got, []string{labelUplink}) {
		t.Errorf("masqueraded ping crossed %v, want [%s]", got, labelUplink)
	}

	bridged := findFlow(flows, func(k FlowKey) bool {
		return k.Proto == ProtoICMP && k.Src.Addr() == c1IP && k.Dst.Addr() == c2IP
	})
	if bridged == nil {
		t.Fatalf("no ICMP flow from %s to %s", c1IP, c2IP)
	}
	if got := hopLabels(bridged); !slices.Contains(got, labelC1) || !slices.Contains(got, labelC2) || !slices.Contains(got, labelBridge) {
		t.Errorf("bridged ping crossed %v, want %s, %s and %s", got, labelC1, labelC2, labelBridge)
	}

	dnatPre := findFlow(flows, func(k FlowKey) bool {
		return k == FlowKey{ProtoTCP, client, netip.AddrPortFrom(uplinkIP, publishPort)}
	})
	if dnatPre == nil {
		t.Fatalf("no TCP flow from %s to %s:%d", client, uplinkIP, publishPort)
	}
	if got := hopLabels(dnatPre); !slices.Equal(got, []string{labelUplink}) {
		t.Errorf("published-port connection crossed %v before DNAT, want [%s]", got, labelUplink)
	}
	if dnatPre.TCPFlags != "SYN,ACK,PSH,FIN" {
		t.Errorf("published-port connection has TCP flags %q, want SYN,ACK,PSH,FIN", dnatPre.TCPFlags)
	}
	dnatPost := findFlow(flows, func(k FlowKey) bool {
		return k == FlowKey{ProtoTCP, client, netip.AddrPortFrom(c1IP, 80)}
	})
	if dnatPost == nil {
		t.Fatalf("no TCP flow from %s to %s:80", client, c1IP)
	}
	if got := hopLabels(dnatPost); !slices.Equal(got, []string{labelBridge, labelC1}) {
		t.Errorf("published-port connection crossed %v after DNAT, want [%s %s]", got, labelBridge, labelC1)
	}
}

func findTranslation(ts []Translation, kind string, match func(Translation) bool) *Translation {
	for i := range ts {
		if ts[i].Kind == kind && match(ts[i]) {
			return &ts[i]
		}
	}
	return nil
}

// checkLabNAT checks the translations of a test lab run.
func checkLabNAT(t *testing.T, nat []Translation, client netip.AddrPort) {
	t.Helper()
	masq := findTranslation(nat, KindMasquerade, func(tr Translation) bool {
		return tr.Original.Proto == ProtoICMP && tr.Original.Src.Addr() == c1IP && tr.Original.Dst.Addr() == routerIP
	})
	if masq == nil {
		t.Fatalf("no masquerade of the ping from %s to %s in %+v", c1IP, routerIP, nat)
	}
	if got := masq.Translated.Src.Addr(); got != uplinkIP {
		t.Errorf("masqueraded ping leaves from %s, want %s", got, uplinkIP)
	}
	if !masq.Confirmed {
		t.Errorf("masquerade not confirmed by packets: before %+v, after %+v", masq.Before, masq.After)
	} else {
		if !slices.Contains(masq.Before.Points, labelC1) {
			t.Errorf("masquerade seen before on %v, want %s among them", masq.Before.Points, labelC1)
		}
		if !slices.Equal(masq.After.Points, []string{labelUplink}) {
			t.Errorf("masquerade seen after on %v, want [%s]", masq.After.Points, labelUplink)
		}
	}
	if masq.Probe != "c1 ping outside" {
		t.Errorf("masquerade has probe %q, want %q", masq.Probe, "c1 ping outside")
	}

	dnat := findTranslation(nat, KindDNAT, func(tr Translation) bool {
		return tr.Original.Proto == ProtoTCP && tr.Original.Dst == netip.AddrPortFrom(uplinkIP, publishPort)
	})
	if dnat == nil {
		t.Fatalf("no DNAT of %s:%d in %+v", uplinkIP, publishPort, nat)
	}
	if got, want := dnat.Translated.Dst, netip.AddrPortFrom(c1IP, 80); got != want {
		t.Errorf("DNAT'ed connection arrives at %s, want %s", got, want)
	}
	if dnat.Original.Src != client || dnat.Translated.Src != client {
		t.Errorf("DNAT'ed connection comes from %s then %s, want %s both times", dnat.Original.Src, dnat.Translated.Src, client)
	}
	if !dnat.Confirmed {
		t.Errorf("DNAT not confirmed by packets: before %+v, after %+v", dnat.Before, dnat.After)
	} else {
		if !slices.Equal(dnat.Before.Points, []string{labelUplink}) {
			t.Errorf("DNAT seen before on %v, want [%s]", dnat.Before.Points, labelUplink)
		}
		if !slices.Contains(dnat.After.Points, labelC1) {
			t.Errorf("DNAT seen after on %v, want %s among them", dnat.After.Points, labelC1)
		}
	}

	hp := findTranslation(nat, KindHairpin, func(tr Translation) bool {
		return tr.Original.Src.Addr() == c2IP && tr.Original.Dst == netip.AddrPortFrom(uplinkIP, publishPort)
	})
	if hp == nil {
		t.Fatalf("no hairpin of %s to %s:%d in %+v", c2IP, uplinkIP, publishPort, nat)
	}
	if got, want := hp.Translated.Dst, netip.AddrPortFrom(c1IP, 80); got != want {
		t.Errorf("hairpin connection arrives at %s, want %s", got, want)
	}
	if got := hp.Translated.Src.Addr().String(); got != gatewayIP {
		t.Errorf("hairpin connection comes from %s, want the gateway %s", got, gatewayIP)
	}
	if !hp.Confirmed {
		t.Errorf("hairpin not confirmed by packets: before %+v, after %+v", hp.Before, hp.After)
	} else {
		if !slices.Contains(hp.Before.Points, labelC2) {
			t.Errorf("hairpin seen before on %v, want %s among them", hp.Before.Points, labelC2)
		}
		if !slices.Contains(hp.After.Points, labelC1) {
			t.Errorf("hairpin seen after on %v, want %s among them", hp.After.Points, labelC1)
		}
	}
	if hp.Probe != "c2 tcp hairpin" {
		t.Errorf("hairpin has probe %q, want %q", hp.Probe, "c2 tcp hairpin")
	}

	px := findTranslation(nat, KindUserlandProxy, func(tr Translation) bool {
		return tr.Original.Dst == netip.MustParseAddrPort("127.0.0.1:8081")
	})
	if px == nil {
		t.Fatalf("no userland proxy pair for 127.0.0.1:%d in %+v", proxyPort, nat)
	}
	if got, want := px.Translated.Dst, netip.AddrPortFrom(c1IP, 80); got != want {
		t.Errorf("proxied connection arrives at %s, want %s", got, want)
	}
	if got := px.Translated.Src.Addr().String(); got != gatewayIP {
		t.Errorf("proxied connection comes from %s, want the gateway %s", got, gatewayIP)
	}
	if !px.Confirmed {
		t.Errorf("userland proxy pair not confirmed by packets: before %+v, after %+v", px.Before, px.After)
	}
	if px.Note != "" {
		t.Errorf("userland proxy pair has note %q, want pairing by time", px.Note)
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func labPorts() []PortMapping {
	return []PortMapping{
		{HostIP: netip.IPv4Unspecified(), HostPort: publishPort, ContainerIP: c1IP, ContainerPort: 80, Proto: "tcp"},
		{HostIP: netip.IPv4Unspecified(), HostPort: proxyPort, ContainerIP: c1IP, ContainerPort: 80, Proto: "tcp"},
	}
}
