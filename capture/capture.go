package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrUnsupported is returned by Start and ReadConntrack on systems without
// AF_PACKET sockets and netfilter netlink.
var ErrUnsupported = errors.New("packet capture needs Linux")

// Point is one interface to capture on.
type Point struct {
	// Label names the point for humans and becomes the interface name in
	// the pcapng file, such as "alpine1 eth0 on alpine-net", "docker0" or
	// "uplink".
	Label string `json:"label"`
	// Ifname is the interface's name inside its namespace, such as a
	// host-side veth, a bridge or the uplink eth0.
	Ifname string `json:"ifname"`
	// Do runs f on a thread switched into the interface's network namespace
	// and switches back before returning, as topology.Node.Do does. A nil
	// Do opens the socket in the calling thread's namespace.
	Do func(f func() error) error `json:"-"`
}

// Engine selects how packets are read from the kernel.
type Engine string

// Capture engines. Both open an AF_PACKET socket without libpcap or cgo.
const (
	// EngineAuto, the zero value, uses EngineRing and falls back to
	// EngineSocket on a point whose ring cannot be set up.
	EngineAuto Engine = ""
	// EngineSocket reads one frame per recvmsg call from an AF_PACKET
	// socket with gopacket's pcapgo.EthernetHandle.
	EngineSocket Engine = "socket"
	// EngineRing reads from a TPACKET_V3 ring shared with the kernel, with
	// gopacket's afpacket package. It needs a system call per block of
	// frames rather than per frame, so it keeps up with higher rates.
	EngineRing Engine = "ring"
)

// Defaults of Options.
const (
	DefaultSnapLen      = 262144
	DefaultMaxPackets   = 1 << 20
	DefaultMaxBytes     = 256 << 20
	DefaultDrainTimeout = 2 * time.Second
	DefaultRingSize     = 8 << 20
)

// Options tunes a capture session. The zero value is valid.
type Options struct {
	// Engine is EngineAuto (default), EngineRing or EngineSocket.
	Engine Engine
	// SnapLen is the number of bytes kept of each packet. The default is
	// DefaultSnapLen, the maximum libpcap captures.
	SnapLen int
	// MaxPackets and MaxBytes bound the packets and captured bytes kept
	// over all points, by default DefaultMaxPackets and DefaultMaxBytes.
	// Packets beyond either limit are read and counted in
	// PointStats.LimitDrops, not kept.
	MaxPackets int
	MaxBytes   int64
	// RingSize is the size in bytes of each point's TPACKET_V3 ring for
	// EngineRing, rounded down to whole 128 KiB blocks with at least one.
	// The default is DefaultRingSize.
	RingSize int
	// NoPromiscuous leaves the interfaces out of promiscuous mode. By
	// default every socket joins promiscuous mode, which a bridge needs to
	// pass up frames it forwards between two of its ports.
	NoPromiscuous bool
	// DrainTimeout bounds how long Stop waits for the readers to empty the
	// kernel queues, by default DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Logger receives debug messages about readers starting and stopping.
	// By default they are discarded.
	Logger *slog.Logger

	// afterRead, when set by tests, runs on a reader's goroutine after each
	// frame, so a test can stall a reader and make its queue overflow.
	afterRead func(point int)
}

func (o Options) withDefaults() Options {
	if o.SnapLen <= 0 {
		o.SnapLen = DefaultSnapLen
	}
	if o.MaxPackets <= 0 {
		o.MaxPackets = DefaultMaxPackets
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.RingSize <= 0 {
		o.RingSize = DefaultRingSize
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Packet is one captured frame.
type Packet struct {
	// Timestamp is the kernel's receive time of the frame.
	Timestamp time.Time
	// Point is the index of the capture point in Capture.Points, which is
	// also the frame's interface ID in the pcapng file.
	Point int
	// Length is the frame's length on the wire. Data is shorter when the
	// snap length cut the frame.
	Length int
	Data   []byte
}

// PointStats are the counters of one capture point.
//
// For every point, Captured + LimitDrops + Undrained equals
// KernelPackets - KernelDrops: every frame the kernel queued to the socket
// is either kept, discarded by the size limit, or still queued at the end.
type PointStats struct {
	Label  string `json:"label"`
	Ifname string `json:"ifname"`
	// Ifindex is the interface index inside its namespace.
	Ifindex int `json:"ifindex"`
	// Engine is the engine that captured on the point: EngineRing or
	// EngineSocket.
	Engine Engine `json:"engine"`
	// Captured counts the frames kept in Capture.Packets.
	Captured uint64 `json:"captured"`
	// Bytes is the captured bytes of the kept frames.
	Bytes uint64 `json:"bytes"`
	// KernelPackets is the kernel's tp_packets counter of PACKET_STATISTICS:
	// the frames that reached the socket, the dropped ones included.
	KernelPackets uint64 `json:"kernel_packets"`
	// KernelDrops is the kernel's tp_drops counter: frames dropped because
	// the socket's receive queue or ring was full.
	KernelDrops uint64 `json:"kernel_drops"`
	// RingFreezes is the tp_freeze_q_cnt counter of a TPACKET_V3 ring.
	RingFreezes uint64 `json:"ring_freezes,omitempty"`
	// LimitDrops counts frames read but discarded because the capture had
	// reached Options.MaxPackets or Options.MaxBytes.
	LimitDrops uint64 `json:"limit_drops"`
	// Undrained counts frames still queued in the kernel when Stop gave up
	// waiting after Options.DrainTimeout.
	Undrained uint64 `json:"undrained"`
	// Error is the first read error of the point, such as its interface
	// going away, or empty. The reader retries for about half a second
	// after an error, so frames queued before it are still captured.
	Error string `json:"error,omitempty"`
}

// Lost returns the frames that reached the socket but are not in the
// capture.
func (s PointStats) Lost() uint64 {
	return s.KernelDrops + s.LimitDrops + s.Undrained
}

// Capture is the result of a capture session: the points, their packets in
// timestamp order, and their counters.
type Capture struct {
	Points  []Point
	Packets []Packet
	Stats   []PointStats
	Start   time.Time
	End     time.Time

	mu          sync.Mutex
	annotations []Annotation
}

// Summary returns a one-line account of the capture that names every
// point that lost frames and the cause, and every read error, such as
// "1520 packets on 4 interfaces; lost 37: uplink 37 dropped by kernel".
func (c *Capture) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s", plural(len(c.Packets), "packet"), plural(len(c.Points), "interface"))
	var losses, failures []string
	for _, s := range c.Stats {
		var causes []string
		if s.KernelDrops > 0 {
			causes = append(causes, fmt.Sprintf("%d dropped by kernel", s.KernelDrops))
		}
		if s.LimitDrops > 0 {
			causes = append(causes, fmt.Sprintf("%d over the size limit", s.LimitDrops))
		}
		if s.Undrained > 0 {
			causes = append(causes, fmt.Sprintf("%d not drained", s.Undrained))
		}
		if len(causes) > 0 {
			losses = append(losses, s.Label+" "+strings.Join(causes, ", "))
		}
		if s.Error != "" {
			failures = append(failures, s.Label+": "+s.Error)
		}
	}
	if len(losses) > 0 {
		fmt.Fprintf(&b, "; lost %d: %s", c.Lost(), strings.Join(losses, "; "))
	} else {
		b.WriteString("; none lost")
	}
	if len(failures) > 0 {
		fmt.Fprintf(&b, "; read errors: %s", strings.Join(failures, "; "))
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Lost returns the frames lost over all points.
func (c *Capture) Lost() uint64 {
	var n uint64
	for _, s := range c.Stats {
		n += s.Lost()
	}
	return n
}

// sortPackets orders packets by timestamp, keeping the order of packets
// with equal timestamps, such as the per-point read order.
func sortPackets(p []Packet) {
	sort.SliceStable(p, func(i, j int) bool { return p[i].Timestamp.Before(p[j].Timestamp) })
}
