package capture

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// seedFrames returns the frames of the recorded lab capture.
func seedFrames(f *testing.F) [][]byte {
	b, err := os.ReadFile(filepath.Join("testdata", "lab.pcapng"))
	if err != nil {
		f.Fatal(err)
	}
	c, err := ReadPcapng(bytes.NewReader(b))
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, p := range c.Packets {
		out = append(out, p.Data)
	}
	return out
}

// FuzzDecodeFrame feeds arbitrary Ethernet frames to the flow decoder and
// checks that a decoded key is well formed.
func FuzzDecodeFrame(f *testing.F) {
	for _, frame := range seedFrames(f) {
		f.Add(frame)
	}
	d := newDecoder()
	f.Fuzz(func(t *testing.T, frame []byte) {
		got, ok := d.decode(frame)
		if !ok {
			return
		}
		k := got.key
		if !validKey(k) {
			t.Fatalf("decoded invalid key %+v", k)
		}
		if k.Src.Addr().Is4() != k.Dst.Addr().Is4() {
			t.Fatalf("key mixes address families: %v", k)
		}
		if (k.Proto == ProtoICMP || k.Proto == ProtoICMPv6) && k.Src.Port() != k.Dst.Port() {
			t.Fatalf("ICMP key with different identifiers: %v", k)
		}
		if k.Reverse().Reverse() != k {
			t.Fatalf("Reverse is not an involution for %v", k)
		}

		table := newFlowTable(nil)
		table.add(Packet{Timestamp: time.Unix(0, 0), Data: frame, Length: len(frame)})
		flows := table.flows()
		if !got.icmpError && len(flows) != 1 {
			t.Fatalf("decoded frame made %d flows, want 1", len(flows))
		}
	})
}

// FuzzReadPcapng feeds arbitrary files to ReadPcapng; whatever it accepts
// must survive a write and a second read unchanged, and give a flow table.
func FuzzReadPcapng(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "lab.pcapng"))
	if err != nil {
		f.Fatal(err)
	}
	small, err := ReadPcapng(bytes.NewReader(b))
	if err != nil {
		f.Fatal(err)
	}
	small.Packets = small.Packets[:3]
	var buf bytes.Buffer
	if err := small.WritePcapng(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, file []byte) {
		c, err := ReadPcapng(bytes.NewReader(file))
		if err != nil {
			return
		}
		c.Flows()
		if len(c.Points) == 0 {
			return
		}
		var buf bytes.Buffer
		if err := c.WritePcapng(&buf); err != nil {
			t.Fatalf("WritePcapng of a file ReadPcapng accepted: %v", err)
		}
		back, err := ReadPcapng(&buf)
		if err != nil {
			t.Fatalf("ReadPcapng of a written file: %v", err)
		}
		if len(back.Packets) != len(c.Packets) || len(back.Points) != len(c.Points) {
			t.Fatalf("round trip changed %d packets on %d points into %d on %d",
				len(c.Packets), len(c.Points), len(back.Packets), len(back.Points))
		}
	})
}
