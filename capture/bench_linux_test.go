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
// that rate is captured with no loss.
//
// Run with a fixed count, such as
//
//	go test -run '^$' -bench Capture -benchtime 1000000x ./capture
func BenchmarkCapture(b *testing.B) {
	for _, engine := range []Engine{EngineSocket, EngineRing} {
		for _, ifaces := range []int{1, 2, 8} {
			for _, rate := range []int{0, 200_000} {
				name := fmt.Sprintf("engine=%s/ifaces=%d/rate=max", engine, ifaces)
				if rate > 0 {
					name = fmt.Sprintf("engine=%s/ifaces=%d/rate=%d", engine, ifaces, rate)
				}
				b.Run(name, func(b *testing.B) { benchCapture(b, engine, ifaces, rate) })
			}
		}
	}
}

func benchCapture(b *testing.B, engine Engine, ifaces, rate int) {
	p := newPair(b, ifaces)
	p.sink.dropUDPPort(b, 9)
	conns := p.generator(b)
	opts := Options{Engine: engine, MaxPackets: 1 << 30, MaxBytes: 1 << 36, SnapLen: 128, DrainTimeout: 10 * time.Second}
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
