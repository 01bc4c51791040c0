package netns

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/topolab/topolab/internal/responder"
	"github.com/topolab/topolab/topology"
)

// DialFunc opens a connection as net.Dialer.DialContext does. The caller
// of a server that takes one decides in which network namespace the
// connection is opened.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Defaults of Proxy.
const (
	// DefaultProxyDialTimeout bounds the connection to the container.
	DefaultProxyDialTimeout = 10 * time.Second
	// DefaultProxyMaxConns is the maximum number of TCP connections or
	// UDP sessions a proxy relays at once.
	DefaultProxyMaxConns = 1024
	// DefaultUDPIdleTimeout ends a UDP session after this long without a
	// reply from the container, as docker-proxy's UDPConnTrackTimeout
	// (90 s) does.
	DefaultUDPIdleTimeout = 90 * time.Second
)

// maxDatagram is the largest UDP payload over IPv4.
const maxDatagram = 65507

// Proxy is the userland proxy of one published port, the counterpart of
// docker-proxy. It accepts on the host address of the binding and relays
// to the container address, so the container sees the proxy's own address
// on the container's network, the gateway, as the source. Docker uses it
// for traffic that DNAT does not catch: from the host to 127.0.0.1, and
// from a container to its own published port (hairpin).
type Proxy struct {
	binding topology.PortBinding
	dial    DialFunc
	logger  *slog.Logger

	// DialTimeout bounds each connection to the container. Zero means
	// DefaultProxyDialTimeout.
	DialTimeout time.Duration
	// MaxConns is the maximum number of TCP connections or UDP sessions
	// relayed at once. Zero means DefaultProxyMaxConns. Further TCP connections wait
	// in the listen backlog, and datagrams of further UDP clients are
	// dropped.
	MaxConns int
	// UDPIdleTimeout ends a UDP session after this long without a reply
	// from the container. Zero means DefaultUDPIdleTimeout.
	UDPIdleTimeout time.Duration
}

// NewProxy returns the proxy of binding. Dial connects to the container;
// it should open the connection in the lab host namespace, where
// docker-proxy runs. A nil logger discards the proxy's debug records.
func NewProxy(binding topology.PortBinding, dial DialFunc, logger *slog.Logger) *Proxy {
	if logger == nil {
		logger = discardLogger
	}
	return &Proxy{binding: binding, dial: dial, logger: logger}
}

// target returns the container address the proxy connects to.
func (p *Proxy) target() string {
	return netip.AddrPortFrom(p.binding.ContainerIP, p.binding.ContainerPort).String()
}

// ServeTCP accepts connections on ln, connects each to the container and
// copies data both ways, passing a half-close on. A connection to the
// container that fails closes the client's connection, as docker-proxy
// does. ServeTCP closes ln and every relayed connection when ctx is done,
// and returns nil then or when ln is closed by someone else.
func (p *Proxy) ServeTCP(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return responder.AcceptLoop(ctx, ln, p.maxConns(), "proxy to "+p.target(),
		func(client net.Conn) { p.relayTCP(ctx, client) })
}

func (p *Proxy) relayTCP(ctx context.Context, client net.Conn) {
	defer client.Close()
	dialCtx, cancel := context.WithTimeout(ctx, p.dialTimeout())
	backend, err := p.dial(dialCtx, "tcp", p.target())
	cancel()
	if err != nil {
		p.logger.Debug("proxy failed to connect to container",
			"client", client.RemoteAddr().String(), "container", p.target(), "error", err)
		return
	}
	defer backend.Close()

	// Closing both connections when ctx is done ends both copies.
	stop := context.AfterFunc(ctx, func() {
		client.Close()
		backend.Close()
	})
	defer stop()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		p.copyHalf(backend, client)
	}()
	go func() {
		defer wg.Done()
		p.copyHalf(client, backend)
	}()
	wg.Wait()
}

// copyHalf copies src to dst until src ends, then closes the write side of
// dst, so the peer sees the end of the stream while the other direction
// goes on. A copy error aborts both directions.
func (p *Proxy) copyHalf(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if err != nil {
		p.logger.Debug("proxy copy ended with error", "from", src.RemoteAddr().String(),
			"to", dst.RemoteAddr().String(), "error", err)
		dst.Close()
		src.Close()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	dst.Close()
}

func (p *Proxy) dialTimeout() time.Duration {
	if p.DialTimeout > 0 {
		return p.DialTimeout
	}
	return DefaultProxyDialTimeout
}

func (p *Proxy) maxConns() int {
	if p.MaxConns > 0 {
		return p.MaxConns
	}
	return DefaultProxyMaxConns
}

func (p *Proxy) udpIdleTimeout() time.Duration {
	if p.UDPIdleTimeout > 0 {
		return p.UDPIdleTimeout
	}
	return DefaultUDPIdleTimeout
}
