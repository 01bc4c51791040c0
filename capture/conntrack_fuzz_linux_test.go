package capture

import (
	"bytes"
	"io"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
)

// conntrackSeed returns the netlink message of a masqueraded TCP flow,
// 172.17.0.2:40000 -> 203.0.113.10:80 answered to 192.0.2.10:40000, as the
// kernel sends it in a conntrack dump.
func conntrackSeed(f *testing.F) []byte { return conntrackSeedBytes(f) }

func conntrackSeedBytes(f testing.TB) []byte {
	tuple := func(src, dst [4]byte, sport, dport uint16) []netfilter.Attribute {
		return []netfilter.Attribute{
			{Type: 1, Nested: true, Children: []netfilter.Attribute{ // CTA_TUPLE_IP
				{Type: 1, Data: src[:]}, // CTA_IP_V4_SRC
				{Type: 2, Data: dst[:]}, // CTA_IP_V4_DST
			}},
			{Type: 2, Nested: true, Children: []netfilter.Attribute{ // CTA_TUPLE_PROTO
				{Type: 1, Data: []byte{6}},                    // CTA_PROTO_NUM: TCP
				{Type: 2, Data: netfilter.Uint16Bytes(sport)}, // CTA_PROTO_SRC_PORT
				{Type: 3, Data: netfilter.Uint16Bytes(dport)}, // CTA_PROTO_DST_PORT
			}},
		}
	}
	attrs := []netfilter.Attribute{
		{Type: 1, Nested: true, Children: tuple([4]byte{172, 17, 0, 2}, [4]byte{203, 0, 113, 10}, 40000, 80)}, // CTA_TUPLE_ORIG
		{Type: 2, Nested: true, Children: tuple([4]byte{203, 0, 113, 10}, [4]byte{192, 0, 2, 10}, 80, 40000)}, // CTA_TUPLE_REPLY
	}
	msg, err := netfilter.MarshalNetlink(netfilter.Header{
		SubsystemID: netfilter.NFSubsysCTNetlink,
		MessageType: 0, // IPCTNL_MSG_CT_NEW
		Family:      netfilter.ProtoIPv4,
	}, attrs)
	if err != nil {
		f.Fatal(err)
	}
	return msg.Data
}

// FuzzConntrackMessage feeds arbitrary conntrack netlink messages through
// the library's decoder and translationOf to the NAT table, as
// ReadConntrack and Capture.NAT use them.
func FuzzConntrackMessage(f *testing.F) {
	f.Add(uint8(0), conntrackSeed(f))
	f.Add(uint8(0), []byte{2, 0, 0, 0})
	f.Add(uint8(2), []byte{})
	f.Fuzz(func(t *testing.T, msgType uint8, data []byte) {
		msg := netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(uint16(netfilter.NFSubsysCTNetlink)<<8 | uint16(msgType&0x0f))},
			Data:   data,
		}
		var e conntrack.Event
		if err := e.Unmarshal(msg); err != nil || e.Flow == nil {
			return
		}
		tr, ok := translationOf(*e.Flow)
		if !ok {
			return
		}
		if !validKey(tr.Original) {
			t.Errorf("translation with an invalid original key %v", tr.Original)
		}
		c := &Capture{}
		out := c.NAT(PairProxies([]Translation{tr}, nil), nil)
		if err := WriteNATMarkdown(io.Discard, out); err != nil {
			t.Errorf("writing the NAT table: %v", err)
		}
	})
}

// TestConntrackSeed checks that the fuzz seed decodes to the masquerade it
// describes, so that the fuzzer starts from a message that reaches the NAT
// table.
func TestConntrackSeed(t *testing.T) {
	data := conntrackSeedBytes(t)
	var e conntrack.Event
	msg := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(uint16(netfilter.NFSubsysCTNetlink) << 8)}, Data: data}
	if err := e.Unmarshal(msg); err != nil || e.Flow == nil {
		t.Fatalf("decoding the seed: %v, flow %v", err, e.Flow)
	}
	tr, ok := translationOf(*e.Flow)
	if !ok {
		t.Fatal("the seed gives no translation")
	}
	if got := tr.Translated.String(); !bytes.Contains([]byte(got), []byte("192.0.2.10:40000")) {
		t.Errorf("translated key %s, want the source 192.0.2.10:40000", got)
	}
	if tr.Kind == "" {
		t.Errorf("translation of the seed has no kind")
	}
}
