package netns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/miekg/dns"
)

var discardLogger = slog.New(slog.DiscardHandler)

// dnsShutdownTimeout bounds the wait for queries in progress when a DNS
// server stops. It exceeds forwardTimeout, so a forwarded query in flight
// still gets its reply.
const dnsShutdownTimeout = forwardTimeout + time.Second

// serveDNS runs handler on udp and tcp, either of which may be nil, until
// ctx is done or one of the servers fails. Both sockets are closed when it
// returns.
func serveDNS(ctx context.Context, handler dns.Handler, udp net.PacketConn, tcp net.Listener) error {
	var servers []*dns.Server
	if udp != nil {
		servers = append(servers, &dns.Server{PacketConn: udp, Handler: handler})
	}
	if tcp != nil {
		servers = append(servers, &dns.Server{Listener: tcp, Handler: handler})
	}
	if len(servers) == 0 {
		return errors.New("serving DNS: no sockets")
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errs <- runDNSServer(ctx, srv) }()
	}
	var first error
	for range servers {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel() // stop the other server
		}
	}
	return first
}

// runDNSServer serves srv until ctx is done, then shuts it down and returns
// nil. An error of the server before that is returned, after closing its
// socket.
func runDNSServer(ctx context.Context, srv *dns.Server) error {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()

	select {
	case err := <-done:
		closeDNSSockets(srv)
		return fmt.Errorf("starting DNS server on %s: %w", dnsServerAddr(srv), err)
	case <-started:
	}
	select {
	case err := <-done:
		closeDNSSockets(srv)
		if err == nil {
			err = net.ErrClosed
		}
		return fmt.Errorf("serving DNS on %s: %w", dnsServerAddr(srv), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), dnsShutdownTimeout)
	defer cancel()
	// ShutdownContext closes the socket. Its error only reports queries
	// still running at the deadline, which end with their own timeouts.
	_ = srv.ShutdownContext(shutdownCtx)
	<-done
	return nil
}

func closeDNSSockets(srv *dns.Server) {
	if srv.PacketConn != nil {
		srv.PacketConn.Close()
	}
	if srv.Listener != nil {
		srv.Listener.Close()
	}
}

func dnsServerAddr(srv *dns.Server) string {
	if srv.PacketConn != nil {
		return "udp " + srv.PacketConn.LocalAddr().String()
	}
	return "tcp " + srv.Listener.Addr().String()
}

// writeReply sends resp and, when that fails for a reason other than the
// connection, a bare SERVFAIL, so the client need not wait for its timeout.
func writeReply(w dns.ResponseWriter, query, resp *dns.Msg, logger *slog.Logger) {
	err := w.WriteMsg(resp)
	if err == nil {
		return
	}
	logger.Debug("DNS server failed to send reply", "client", w.RemoteAddr().String(), "error", err)
	if resp.Rcode != dns.RcodeServerFailure {
		if err := w.WriteMsg(new(dns.Msg).SetRcode(query, dns.RcodeServerFailure)); err != nil {
			logger.Debug("DNS server failed to send SERVFAIL", "client", w.RemoteAddr().String(), "error", err)
		}
	}
}
