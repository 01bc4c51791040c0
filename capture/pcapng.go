package capture

import (
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// WritePcapng writes the capture as one pcapng section: one interface block
// per point, named by its Label and described by its Ifname, the packets in
// timestamp order, and an interface statistics block per point carrying its
// received and dropped counters.
func (c *Capture) WritePcapng(w io.Writer) error {
	if len(c.Points) == 0 {
		return errors.New("writing pcapng: capture has no points")
	}
	section := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware:    runtime.GOARCH,
		OS:          runtime.GOOS,
		Application: "topolab",
		Comment:     c.Summary(),
	}}
	nw, err := pcapgo.NewNgWriterInterface(w, c.ngInterface(0), section)
	if err != nil {
		return fmt.Errorf("writing pcapng header: %w", err)
	}
	for i := 1; i < len(c.Points); i++ {
		if _, err := nw.AddInterface(c.ngInterface(i)); err != nil {
			return fmt.Errorf("writing pcapng interface %q: %w", c.Points[i].Label, err)
		}
	}

	for _, p := range c.Packets {
		ci := gopacket.CaptureInfo{
			Timestamp:      p.Timestamp,
			CaptureLength:  len(p.Data),
			Length:         max(p.Length, len(p.Data)),
			InterfaceIndex: p.Point,
		}
		if err := nw.WritePacket(ci, p.Data); err != nil {
			return fmt.Errorf("writing pcapng packet: %w", err)
		}
	}

	for i := range c.Points {
		if err := nw.WriteInterfaceStats(i, c.ngStats(i)); err != nil {
			return fmt.Errorf("writing pcapng statistics of %q: %w", c.Points[i].Label, err)
		}
	}
	if err := nw.Flush(); err != nil {
		return fmt.Errorf("writing pcapng: %w", err)
	}
	return nil
}

func (c *Capture) ngInterface(i int) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name:                c.Points[i].Label,
		Description:         c.Points[i].Ifname,
		OS:                  runtime.GOOS,
		LinkType:            layers.LinkTypeEthernet,
		TimestampResolution: 9,
	}
}

func (c *Capture) ngStats(i int) pcapgo.NgInterfaceStatistics {
	s := pcapgo.NgInterfaceStatistics{
		LastUpdate:      c.End,
		StartTime:       c.Start,
		EndTime:         c.End,
		PacketsReceived: pcapgo.NgNoValue64,
		PacketsDropped:  pcapgo.NgNoValue64,
	}
	if i < len(c.Stats) {
		s.PacketsReceived = c.Stats[i].KernelPackets
		s.PacketsDropped = c.Stats[i].Lost()
	}
	return s
}

// ReadPcapng reads a pcapng file, such as one written by WritePcapng, into a
// Capture. Every interface of the first section becomes a Point without a Do
// function, and packets are kept in timestamp order. The received and
// dropped counters of interface statistics blocks become KernelPackets and
// KernelDrops, so the drops of a capture written by WritePcapng come back as
// kernel drops whatever their cause. Every interface must carry Ethernet.
func ReadPcapng(r io.Reader) (*Capture, error) {
	stats := map[int]pcapgo.NgInterfaceStatistics{}
	nr, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{
		SkipUnknownVersion:         true,
		ErrorOnMismatchingLinkType: true,
		StatisticsCallback:         func(id int, s pcapgo.NgInterfaceStatistics) { stats[id] = s },
	})
	if err != nil {
		return nil, fmt.Errorf("reading pcapng header: %w", err)
	}
	if nr.LinkType() != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("reading pcapng: unsupported link type %v, want Ethernet", nr.LinkType())
	}
	c := &Capture{}
	for {
		data, ci, err := nr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading pcapng packet %d: %w", len(c.Packets)+1, err)
		}
		if ci.Length < ci.CaptureLength {
			return nil, fmt.Errorf("reading pcapng packet %d: captured length %d exceeds original length %d",
				len(c.Packets)+1, ci.CaptureLength, ci.Length)
		}
		c.Packets = append(c.Packets, Packet{
			Timestamp: ci.Timestamp,
			Point:     ci.InterfaceIndex,
			Length:    ci.Length,
			Data:      data,
		})
	}

	for i := 0; i < nr.NInterfaces(); i++ {
		intf, err := nr.Interface(i)
		if err != nil {
			return nil, fmt.Errorf("reading pcapng interface %d: %w", i, err)
		}
		label := intf.Name
		if label == "" {
			label = fmt.Sprintf("interface %d", i)
		}
		c.Points = append(c.Points, Point{Label: label, Ifname: intf.Description})
		ps := PointStats{Label: label, Ifname: intf.Description}
		if s, ok := stats[i]; ok {
			if s.PacketsReceived != pcapgo.NgNoValue64 {
				ps.KernelPackets = s.PacketsReceived
			}
			if s.PacketsDropped != pcapgo.NgNoValue64 {
				ps.KernelDrops = s.PacketsDropped
			}
		}
		c.Stats = append(c.Stats, ps)
	}
	for _, p := range c.Packets {
		if p.Point < 0 || p.Point >= len(c.Points) {
			return nil, fmt.Errorf("reading pcapng: packet on undeclared interface %d", p.Point)
		}
		c.Stats[p.Point].Captured++
		c.Stats[p.Point].Bytes += uint64(len(p.Data))
	}

	sortPackets(c.Packets)
	if len(c.Packets) > 0 {
		c.Start = c.Packets[0].Timestamp
		c.End = c.Packets[len(c.Packets)-1].Timestamp
	}
	return c, nil
}
