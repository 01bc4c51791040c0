package capture

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// dropAllFilter is a classic BPF program that accepts no frame.
var dropAllFilter = []bpf.RawInstruction{{Op: 0x06, K: 0}} // ret #0

// ringBlockSize is the size of one TPACKET_V3 block: a multiple of the page
// size that holds the largest GSO frame a veth passes (64 KiB).
const ringBlockSize = 128 << 10

// ringPollTimeout bounds how long a ring reader waits in poll before it
// checks whether the session is stopping.
const ringPollTimeout = 50 * time.Millisecond

// openPoint opens the capture socket of p inside p's namespace and returns
// it with the engine used and the interface index there.
func openPoint(p Point, opts Options) (packetSource, Engine, int, error) {
	do := p.Do
	if do == nil {
		do = func(f func() error) error { return f() }
	}
	var src packetSource
	var engine Engine
	var ifindex int
	err := do(func() error {
		// Look the interface up here, because names and indexes belong to
		// the namespace that do switched into.
		intf, err := net.InterfaceByName(p.Ifname)
		if err != nil {
			return fmt.Errorf("looking up interface: %w", err)
		}
		ifindex = intf.Index
		if opts.Engine != EngineSocket {
			src, engine, err = openRing(p.Ifname, opts)
			if err == nil || opts.Engine == EngineRing {
				return err
			}
			opts.Logger.Debug("capture ring unavailable, reading frame by frame",
				"point", p.Label, "ifname", p.Ifname, "err", err)
		}
		src, engine, err = openSocket(p.Ifname, opts)
		return err
	})
	if err != nil {
		return nil, "", 0, err
	}
	return src, engine, ifindex, nil
}

// socketSource reads with pcapgo.EthernetHandle, one recvmsg per frame.
type socketSource struct {
	h       *pcapgo.EthernetHandle
	packets uint64
	drops   uint64
	closed  bool
}

func openSocket(ifname string, opts Options) (packetSource, Engine, error) {
	h, err := pcapgo.NewEthernetHandle(ifname)
	if err != nil {
		return nil, "", fmt.Errorf("opening AF_PACKET socket: %w", err)
	}
	s := &socketSource{h: h}
	if err := h.SetCaptureLength(opts.SnapLen); err != nil {
		h.Close()
		return nil, "", fmt.Errorf("setting snap length %d: %w", opts.SnapLen, err)
	}
	if !opts.NoPromiscuous {
		if err := h.SetPromiscuous(true); err != nil {
			h.Close()
			return nil, "", fmt.Errorf("entering promiscuous mode: %w", err)
		}
	}
	return s, EngineSocket, nil
}

func (s *socketSource) next() ([]byte, time.Time, int, int, error) {
	data, ci, err := s.h.ZeroCopyReadPacketData()
	return data, ci.Timestamp, ci.Length, ci.InterfaceIndex, err
}

func (s *socketSource) idle(error) bool { return false }

func (s *socketSource) dropAll() error { return s.h.SetBPF(dropAllFilter) }

func (s *socketSource) counters() (uint64, uint64, uint64, error) {
	if s.closed {
		return s.packets, s.drops, 0, errors.New("socket is closed")
	}
	// The kernel resets the counters on every read, so they add up here.
	st, err := s.h.Stats()
	if err != nil {
		return s.packets, s.drops, 0, err
	}
	s.packets += uint64(st.Packets)
	s.drops += uint64(st.Drops)
	return s.packets, s.drops, 0, nil
}

// interrupt closes the socket, which wakes a recvmsg blocked in the
// runtime's poller with an error.
func (s *socketSource) interrupt() {
	if !s.closed {
		s.closed = true
		s.h.Close()
	}
}

func (s *socketSource) close() { s.interrupt() }

// ringSource reads from a TPACKET_V3 ring with gopacket's afpacket package.
type ringSource struct {
	tp *afpacket.TPacket
}

func openRing(ifname string, opts Options) (packetSource, Engine, error) {
	blocks := max(opts.RingSize/ringBlockSize, 1)
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(ifname),
		afpacket.TPacketVersion3,
		afpacket.OptBlockSize(ringBlockSize),
		afpacket.OptNumBlocks(blocks),
		afpacket.OptBlockTimeout(10*time.Millisecond),
		afpacket.OptPollTimeout(ringPollTimeout),
	)
	if err != nil {
		return nil, "", fmt.Errorf("opening TPACKET_V3 ring of %d blocks: %w", blocks, err)
	}
	if !opts.NoPromiscuous {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			return nil, "", fmt.Errorf("entering promiscuous mode: %w", err)
		}
	}
	return &ringSource{tp: tp}, EngineRing, nil
}

func (s *ringSource) next() ([]byte, time.Time, int, int, error) {
	data, ci, err := s.tp.ZeroCopyReadPacketData()
	return data, ci.Timestamp, ci.Length, ci.InterfaceIndex, err
}

func (s *ringSource) idle(err error) bool { return errors.Is(err, afpacket.ErrTimeout) }

func (s *ringSource) dropAll() error { return s.tp.SetBPF(dropAllFilter) }

func (s *ringSource) counters() (uint64, uint64, uint64, error) {
	_, v3, err := s.tp.SocketStats()
	return uint64(v3.Packets()), uint64(v3.Drops()), uint64(v3.QueueFreezes()), err
}

// interrupt does nothing, because the reader notices Session.stop within
// one poll timeout, and the ring must stay mapped until it has returned.
func (s *ringSource) interrupt() {}

func (s *ringSource) close() { s.tp.Close() }
