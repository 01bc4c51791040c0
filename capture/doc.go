// Package capture records the packets that cross a lab's interfaces and
// explains them: a pcapng file with one interface block per capture point, a
// flow table that says which interfaces each flow crossed and which probe
// caused it, and the NAT translations of the lab host, each shown as the same
// flow before and after the rewrite.
//
// The package knows nothing about runtimes. A caller describes each capture
// point as a Point: a label for humans, an interface name, and a function
// that runs code inside the interface's network namespace (such as
// topology.Node.Do). Start opens one AF_PACKET socket per point inside that
// namespace, and the socket stays bound to it after the function returns, so
// the readers run on ordinary goroutines. Sockets read from a TPACKET_V3
// ring by default and fall back to one recvmsg per frame (EngineSocket).
// Neither needs libpcap or cgo.
//
// A run of a lab uses it like this:
//
//	s, err := capture.Start(ctx, points, capture.Options{})
//	// run the probes, and for each one:
//	s.Annotate(capture.Annotation{Probe: "alpine1 ping alpine2", Start: t0, End: t1, Dst: addr})
//	entries, err := capture.ReadConntrack(host.Do) // before the lab goes down
//	c, err := s.Stop()
//	c.WritePcapng(file)
//	flows := c.Flows()
//	nat := c.NAT(entries, ports)
//	capture.WriteNATMarkdown(natFile, nat)
//
// Nothing is lost silently. Packets the kernel dropped because a socket's
// queue or ring was full, packets discarded because the capture reached its
// size limit, and packets still queued when the drain timed out are all
// counted per point in Capture.Stats, named by Capture.Summary, and written
// to the pcapng file's interface statistics.
//
// Capturing needs Linux and CAP_NET_RAW in the namespace of each point, which
// root has, and so has uid 0 of a user namespace that owns the network
// namespaces. On other systems Start and ReadConntrack return
// ErrUnsupported. Reading recorded pcapng files, building flow tables and
// pairing NAT translations work everywhere.
package capture
