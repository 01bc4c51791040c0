package capture

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkCapture measures capture throughput: a Go generator in one test
// namespace sends b.N small UDP packets, spread over 1, 2 or 8 veth pairs,
// to a second namespace, where every sink-side veth is captured. It reports
// the rate the generator reached (sent-pps), the rate of packets captured
// over the sending time (captured-pps) and the share of packets lost
// (lost-%). The paced variants send at a fixed total rate to show whether
// that rate is captured with no loss. The ring engine runs with the default
// ring size and with a 32 MiB ring.
//
// Run with a fixed count, such as
//
//	go test -run '^$' -bench Capture -benchtime 1000000x ./capture
func BenchmarkCapture(b *testing.B) {
	type config struct {
		engine   Engine
		ringSize int
	}
	for _, cfg := range []config{{EngineSocket, 0}, {EngineRing, DefaultRingSize}, {EngineRing, 32 << 20}} {
		for _, ifaces := range []int{1, 2, 8} {
			for _, rate := range []int{0, 200_000} {
				name := fmt.Sprintf("engine=%s", cfg.engine)
				if cfg.ringSize > 0 {
					name += fmt.Sprintf("/ring=%dMiB", cfg.ringSize>>20)
				}
				name += fmt.Sprintf("/ifaces=%d", ifaces)
				if rate > 0 {
					name += fmt.Sprintf("/rate=%d", rate)
				} else {
					name += "/rate=max"
				}
				opts := Options{Engine: cfg.engine, RingSize: cfg.ringSize}
				b.Run(name, func(b *testing.B) { benchCapture(b, opts, ifaces, rate) })
			}
		}
	}
}

func benchCapture(b *testing.B, opts Options, ifaces, rate int) {
	p := newPair(b, ifaces)
	p.sink.dropUDPPort(b, 9)
	conns := p.generator(b)
	opts.MaxPackets, opts.MaxBytes = 1<<30, 1<<36
	opts.SnapLen = 128
	opts.DrainTimeout = 10 * time.Second
	s, err := Start(context.Background(), p.points(ifaces), opts)
	if err != nil {
		b.Fatalf("Start: %v", err)
	}
	b.Cleanup(func() { s.Stop() })

	b.ResetTimer()
	start := time.Now()
	var sent int
	if rate == 0 {
		sent = flood(conns, b.N)
	} else {
		sent = sendBatches(conns, b.N, rate)
	}
	sending := time.Since(start)
	c, err := s.Stop()
	b.StopTimer()
	if err != nil {
		b.Fatalf("Stop: %v", err)
	}

	var kernel, drops uint64
	for _, st := range c.Stats {
		kernel += st.KernelPackets
		drops += st.KernelDrops
	}
	b.ReportMetric(float64(sent)/sending.Seconds(), "sent-pps")
	b.ReportMetric(float64(len(c.Packets))/sending.Seconds(), "captured-pps")
	b.ReportMetric(100*float64(c.Lost())/float64(max(kernel, 1)), "lost-%")
	b.ReportMetric(float64(drops), "kernel-drops")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRingDrain measures the reader alone: it stalls the reader of a
// 64 MiB ring, fills the ring with b.N small frames, and times how fast the
// reader then empties it (drained-pps), with no generator competing for the
// CPU. Keep b.N within the ring, such as -benchtime 300000x.
func BenchmarkRingDrain(b *testing.B) {
	p := newPair(b, 1)
	p.sink.dropUDPPort(b, 9)
	conns := p.generator(b)
	hook, release := stallFirst()
	b.Cleanup(release)
	opts := Options{Engine: EngineRing, RingSize: 64 << 20, SnapLen: 128, MaxPackets: 1 << 30,
		DrainTimeout: 30 * time.Second, afterRead: hook}
	s, err := Start(context.Background(), p.points(1), opts)
	if err != nil {
		b.Fatalf("Start: %v", err)
	}
	b.Cleanup(func() { s.Stop() })
	flood(conns, 1)
	time.Sleep(20 * time.Millisecond) // the reader takes the first frame and stalls
	sent := flood(conns, b.N)
	time.Sleep(20 * time.Millisecond) // the ring retires its last block

	b.ResetTimer()
	start := time.Now()
	release()
	c, err := s.Stop()
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatalf("Stop: %v", err)
	}
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "drained-pps")
	b.ReportMetric(float64(c.Lost()), "lost")
	b.ReportMetric(0, "ns/op")
}
