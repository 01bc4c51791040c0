package capture

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Session is a running capture. Stop ends it and returns what it saw.
type Session struct {
	opts    Options
	points  []Point
	readers []*reader
	start   time.Time

	keptPackets atomic.Int64
	keptBytes   atomic.Int64

	stopOnce sync.Once
	stopped  chan struct{}
	result   *Capture
	err      error

	mu          sync.Mutex
	annotations []Annotation
}

// packetSource is one open capture socket.
type packetSource interface {
	// next returns the next frame. The data is valid until the next call.
	next() ([]byte, time.Time, int, int, error)
	// idle reports whether err is a poll timeout after which the reader
	// only checks whether it should stop.
	idle(err error) bool
	// dropAll makes the kernel stop queueing frames to the socket.
	dropAll() error
	// counters returns the kernel's accumulated tp_packets, tp_drops and
	// tp_freeze_q_cnt.
	counters() (packets, drops, freezes uint64, err error)
	// interrupt unblocks a pending next call, and close releases the
	// socket after the reader has returned.
	interrupt()
	close()
}

// reader owns one point's socket and the goroutine reading it.
type reader struct {
	index   int
	point   Point
	src     packetSource
	engine  Engine
	ifindex int

	packets []Packet
	arena   []byte
	bytes   uint64
	limit   uint64
	read    atomic.Uint64
	closing atomic.Bool
	err     error
	done    chan struct{}
}

// Start opens a capture socket on every point inside its namespace and
// starts reading. It fails, closing what it opened, when any point cannot be
// opened. The capture ends when Stop is called or ctx is done, whichever
// comes first. Stop must be called either way to get the result.
func Start(ctx context.Context, points []Point, opts Options) (*Session, error) {
	if len(points) == 0 {
		return nil, errors.New("starting capture: no capture points")
	}
	opts = opts.withDefaults()
	if opts.Engine != EngineAuto && opts.Engine != EngineSocket && opts.Engine != EngineRing {
		return nil, fmt.Errorf("starting capture: unknown engine %q (want %q or %q)", opts.Engine, EngineRing, EngineSocket)
	}
	s := &Session{opts: opts, points: append([]Point(nil), points...), stopped: make(chan struct{})}

	for i, p := range s.points {
		src, engine, ifindex, err := openPoint(p, opts)
		if err != nil {
			for _, r := range s.readers {
				r.src.interrupt()
				r.src.close()
			}
			return nil, fmt.Errorf("starting capture on %s (%s): %w", p.Label, p.Ifname, err)
		}
		s.readers = append(s.readers, &reader{index: i, point: p, src: src, engine: engine, ifindex: ifindex,
			done: make(chan struct{})})
	}

	s.start = time.Now()
	for _, r := range s.readers {
		go s.run(r)
	}
	opts.Logger.Debug("capture started", "points", len(points), "engine", string(opts.Engine))

	go func() {
		select {
		case <-ctx.Done():
			opts.Logger.Debug("capture context done, stopping", "err", ctx.Err())
			s.stop()
		case <-s.stopped:
		}
	}()
	return s, nil
}

// Annotate records probe annotations for the capture's flow table, as
// Capture.Annotate does, before or after Stop. It is safe for concurrent
// use.
func (s *Session) Annotate(a ...Annotation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.result != nil {
		s.result.Annotate(a...)
		return
	}
	s.annotations = append(s.annotations, a...)
}

// Stop ends the capture on every point and returns it. It waits up to
// Options.DrainTimeout for the readers to read what the kernel had already
// queued, and counts the rest in PointStats.Undrained. The error joins the
// read errors of the points, and the capture comes with it.
// Stop may be called more than once and returns the same result.
func (s *Session) Stop() (*Capture, error) {
	s.stop()
	return s.result, s.err
}

// Limits of a reader's retries after read errors.
const (
	maxReadErrors  = 50
	readErrorPause = 10 * time.Millisecond
)

func (s *Session) run(r *reader) {
	defer close(r.done)
	failures := 0
	for {
		data, ts, length, ifindex, err := r.src.next()
		if err != nil {
			if r.closing.Load() {
				return
			}
			if r.src.idle(err) {
				continue
			}
			// An error such as the interface going away (ENETDOWN, or
			// POLLERR on a ring) is reported once, but frames queued before
			// it can still be read, so keep trying for a while.
			if r.err == nil {
				r.err = err
			}
			if failures++; failures > maxReadErrors {
				return
			}
			time.Sleep(readErrorPause)
			continue
		}
		failures = 0
		r.read.Add(1)
		if ifindex > 0 {
			r.ifindex = ifindex
		}
		if len(data) > s.opts.SnapLen {
			data = data[:s.opts.SnapLen]
		}
		if s.keptPackets.Add(1) > int64(s.opts.MaxPackets) || s.keptBytes.Add(int64(len(data))) > s.opts.MaxBytes {
			r.limit++
		} else {
			r.packets = append(r.packets, Packet{Timestamp: ts, Point: r.index, Length: length, Data: r.store(data)})
			r.bytes += uint64(len(data))
		}
		if s.opts.afterRead != nil {
			s.opts.afterRead(r.index)
		}
	}
}

// arenaSize is the size of the chunks a reader copies frames into, so that
// small frames cost no allocation each.
const arenaSize = 1 << 20

// store returns a copy of data in the reader's current chunk.
func (r *reader) store(data []byte) []byte {
	if len(data) > arenaSize/4 {
		return append([]byte(nil), data...)
	}
	if len(r.arena) < len(data) {
		r.arena = make([]byte, arenaSize)
	}
	n := len(data)
	out := r.arena[:n:n]
	copy(out, data)
	r.arena = r.arena[n:]
	return out
}

func (s *Session) stop() {
	s.stopOnce.Do(func() {
		defer close(s.stopped)
		var wg sync.WaitGroup
		stats := make([]PointStats, len(s.readers))
		for i, r := range s.readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stats[i] = s.stopReader(r)
			}()
		}
		wg.Wait()

		c := &Capture{Points: s.points, Stats: stats, Start: s.start, End: time.Now()}
		var errs []error
		n := 0
		for _, r := range s.readers {
			n += len(r.packets)
			if r.err != nil {
				errs = append(errs, fmt.Errorf("capturing on %s (%s): %w", r.point.Label, r.point.Ifname, r.err))
			}
		}
		c.Packets = make([]Packet, 0, n)
		for _, r := range s.readers {
			c.Packets = append(c.Packets, r.packets...)
			r.packets = nil
		}
		sortPackets(c.Packets)
		s.mu.Lock()
		c.annotations = append(c.annotations, s.annotations...)
		s.result, s.err = c, errors.Join(errs...)
		s.mu.Unlock()
		s.opts.Logger.Debug("capture stopped", "summary", c.Summary())
	})
}

// stopReader stops one reader: it makes the kernel stop queueing, reads the
// counters, waits until the reader has read everything queued before that,
// then closes the socket.
func (s *Session) stopReader(r *reader) PointStats {
	st := PointStats{Label: r.point.Label, Ifname: r.point.Ifname}
	var cerr error
	if err := r.src.dropAll(); err != nil {
		cerr = fmt.Errorf("detaching socket: %w", err)
	}
	packets, drops, freezes, err := r.src.counters()
	if err != nil && cerr == nil {
		cerr = fmt.Errorf("reading PACKET_STATISTICS: %w", err)
	}
	queued := packets - min(drops, packets)

	deadline := time.Now().Add(s.opts.DrainTimeout)
	r.drain(queued, deadline)
	// A frame that passed the filter on another CPU just before dropAll
	// took effect may have been counted after the first read.
	if p, d, f, err := r.src.counters(); err == nil {
		packets, drops, freezes = p, d, f
		queued = packets - min(drops, packets)
		r.drain(queued, deadline)
	}
	r.closing.Store(true)
	r.src.interrupt()
	<-r.done
	r.src.close()

	st.Ifindex = r.ifindex
	st.Engine = r.engine
	st.Captured = uint64(len(r.packets))
	st.Bytes = r.bytes
	st.KernelPackets = packets
	st.KernelDrops = drops
	st.RingFreezes = freezes
	st.LimitDrops = r.limit
	if read := r.read.Load(); read < queued {
		st.Undrained = queued - read
	}
	if r.err == nil && cerr != nil {
		r.err = cerr
	}
	if r.err != nil {
		st.Error = r.err.Error()
	}
	return st
}

// drain waits until the reader has read n frames, has ended, or deadline
// has passed.
func (r *reader) drain(n uint64, deadline time.Time) {
	for r.read.Load() < n && time.Now().Before(deadline) {
		select {
		case <-r.done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}
