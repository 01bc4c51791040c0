package capture

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadRecordedLab reads the capture and conntrack dump that
// TestLabCapture -update recorded in testdata.
func loadRecordedLab(t *testing.T) (*Capture, recordedLab) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "lab.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ReadPcapng(f)
	if err != nil {
		t.Fatalf("ReadPcapng: %v", err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "lab.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec recordedLab
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("decoding lab.json: %v", err)
	}
	c.Annotate(rec.Annotations...)
	return c, rec
}

func TestRecordedLabFlows(t *testing.T) {
	c, rec := loadRecordedLab(t)
	want := []string{labelC1, labelC2, labelBridge, labelUplink, labelLo}
	if len(c.Points) != len(want) {
		t.Fatalf("ReadPcapng found %d interfaces, want %d", len(c.Points), len(want))
	}
	for i, p := range c.Points {
		if p.Label != want[i] {
			t.Errorf("interface %d is %q, want %q", i, p.Label, want[i])
		}
	}
	checkLabFlows(t, c.Flows(), rec.ClientPort)
}

func TestRecordedLabNAT(t *testing.T) {
	c, rec := loadRecordedLab(t)
	checkLabNAT(t, c.NAT(rec.Conntrack, labPorts()), rec.ClientPort)
}

func TestRecordedLabPcapngRoundTrip(t *testing.T) {
	c, _ := loadRecordedLab(t)
	var buf bytes.Buffer
	if err := c.WritePcapng(&buf); err != nil {
		t.Fatalf("WritePcapng: %v", err)
	}
	back, err := ReadPcapng(&buf)
	if err != nil {
		t.Fatalf("ReadPcapng of written file: %v", err)
	}
	if len(back.Packets) != len(c.Packets) {
		t.Fatalf("round trip has %d packets, want %d", len(back.Packets), len(c.Packets))
	}
	for i := range c.Packets {
		a, b := c.Packets[i], back.Packets[i]
		if !a.Timestamp.Equal(b.Timestamp) || a.Point != b.Point || !bytes.Equal(a.Data, b.Data) {
			t.Fatalf("packet %d differs after round trip", i)
		}
	}
}

func TestNATMarkdown(t *testing.T) {
	c, rec := loadRecordedLab(t)
	var buf bytes.Buffer
	if err := WriteNATMarkdown(&buf, c.NAT(rec.Conntrack, labPorts())); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"| masquerade | icmp 172.17.0.2 > 192.0.2.1 id 4660 | c1 eth0 on bridge, docker0 | icmp 192.0.2.10 > 192.0.2.1 id 4660 | uplink | yes | c1 ping outside |",
		"| dnat | tcp " + rec.ClientPort.String() + " > 192.0.2.10:8080 | uplink | tcp " + rec.ClientPort.String() + " > 172.17.0.2:80 | docker0, c1 eth0 on bridge | yes | outside tcp published |",
		"| userland-proxy | tcp 127.0.0.1:",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("nat.md lacks %q:\n%s", want, md)
		}
	}
}

func TestNATMarkdownEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteNATMarkdown(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No connection was rewritten.") {
		t.Errorf("empty nat.md = %q", buf.String())
	}
}

func TestTranslationDOT(t *testing.T) {
	c, rec := loadRecordedLab(t)
	nat := c.NAT(rec.Conntrack, labPorts())
	masq := findTranslation(nat, KindMasquerade, func(Translation) bool { return true })
	if masq == nil {
		t.Fatal("no masquerade translation")
	}
	var buf bytes.Buffer
	if err := WriteDOT(&buf, masq.Path()); err != nil {
		t.Fatal(err)
	}
	dot := buf.String()
	for _, want := range []string{
		`client [shape=ellipse, label="172.17.0.2"];`,
		`s0 [label="c1 eth0 on bridge\nicmp 172.17.0.2 > 192.0.2.1 id 4660"];`,
		`s1 [label="docker0\nicmp 172.17.0.2 > 192.0.2.1 id 4660"];`,
		`s2 [shape=diamond, label="masquerade\nicmp 192.0.2.10 > 192.0.2.1 id 4660"];`,
		`s3 [label="uplink\nicmp 192.0.2.10 > 192.0.2.1 id 4660"];`,
		`server [shape=ellipse, label="192.0.2.1"];`,
		"client -> s0;\n  s0 -> s1;\n  s1 -> s2;\n  s2 -> s3;\n  s3 -> server;\n}\n",
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %q:\n%s", want, dot)
		}
	}
}

func TestDotQuote(t *testing.T) {
	got := dotQuote("a \"b\" \\ c\nd")
	if want := `"a \"b\" \\ c\nd"`; got != want {
		t.Errorf("dotQuote = %s, want %s", got, want)
	}
}

func TestClassify(t *testing.T) {
	k := func(s string) FlowKey {
		parts := strings.Fields(s)
		return FlowKey{Proto: ProtoTCP, Src: mustAddrPort(parts[0]), Dst: mustAddrPort(parts[1])}
	}
	for _, tc := range []struct {
		original, translated, want string
	}{
		{"172.17.0.2:1000 192.0.2.1:80", "192.0.2.10:1000 192.0.2.1:80", KindMasquerade},
		{"192.0.2.1:1000 192.0.2.10:8080", "192.0.2.1:1000 172.17.0.2:80", KindDNAT},
		{"172.17.0.3:1000 192.0.2.10:8080", "172.17.0.1:1000 172.17.0.2:80", KindHairpin},
		{"127.0.0.1:1000 127.0.0.1:8080", "172.17.0.1:1000 172.17.0.2:80", KindDNAT},
		{"172.17.0.2:1000 172.17.0.3:80", "172.17.0.2:1000 172.17.0.3:80", KindNone},
	} {
		if got := classify(k(tc.original), k(tc.translated)); got != tc.want {
			t.Errorf("classify(%s, %s) = %s, want %s", tc.original, tc.translated, got, tc.want)
		}
	}
}

func TestSummaryNamesEveryLoss(t *testing.T) {
	c := &Capture{
		Points:  []Point{{Label: "docker0"}, {Label: "uplink"}},
		Packets: make([]Packet, 3),
		Stats: []PointStats{
			{Label: "docker0", KernelDrops: 2, Undrained: 1},
			{Label: "uplink", LimitDrops: 4, Error: "network is down"},
		},
	}
	want := "3 packets on 2 interfaces; lost 7: docker0 2 dropped by kernel, 1 not drained; " +
		"uplink 4 over the size limit; read errors: uplink: network is down"
	if got := c.Summary(); got != want {
		t.Errorf("Summary() =\n%q\nwant\n%q", got, want)
	}
	if c.Lost() != 7 {
		t.Errorf("Lost() = %d, want 7", c.Lost())
	}
}
