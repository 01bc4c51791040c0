// Command topolab-responder is the init process of topolab's probe image. It
// runs topolab's responders on the ports a container of a topology file
// listens on, so probes can tell which server answered and which client
// address it saw, and otherwise waits until Docker stops the container.
//
// Usage:
//
//	topolab-responder -name web1 -listen 80/tcp,53/udp
//
// Flags default to the environment variables TOPOLAB_NODE and
// TOPOLAB_LISTEN, which the docker runtime sets. Every listener binds the
// wildcard address, as a server in a container usually does. The binary
// must be linked statically (CGO_ENABLED=0), because the probe image has no
// C library.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/topolab/topolab/internal/responder"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "topolab-responder:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("topolab-responder", flag.ContinueOnError)
	name := flags.String("name", os.Getenv("TOPOLAB_NODE"), "node `name` sent in every reply")
	listen := flags.String("listen", os.Getenv("TOPOLAB_LISTEN"), "comma-separated `ports` to serve, as PORT/tcp or PORT/udp")
	if err := flags.Parse(args); err != nil {
		return err
	}
	ports, err := parseListen(*listen)
	if err != nil {
		return err
	}
	if len(ports) > 0 && (*name == "" || strings.ContainsAny(*name, " \t\n")) {
		return fmt.Errorf("invalid node name %q: set -name or TOPOLAB_NODE to a name without spaces", *name)
	}

	// As PID 1 the process gets no default signal handlers, so SIGTERM must
	// be handled here or docker stop waits for its timeout.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, *name, ports)
}

// port is one listen entry.
type port struct {
	number uint16
	proto  string
}

func parseListen(s string) ([]port, error) {
	var ports []port
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		num, proto, _ := strings.Cut(entry, "/")
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("invalid listen port %q: want PORT/tcp or PORT/udp with PORT in 1-65535", entry)
		}
		if proto != "tcp" && proto != "udp" {
			return nil, fmt.Errorf("invalid listen protocol in %q: want tcp or udp", entry)
		}
		ports = append(ports, port{uint16(n), proto})
	}
	return ports, nil
}

// serve runs one responder per port until ctx is done. A port that cannot
// be opened is an error, so a container that fails to serve exits at once
// and the failure shows in its logs.
func serve(ctx context.Context, name string, ports []port) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var wg sync.WaitGroup
	for _, p := range ports {
		addr := net.JoinHostPort("", strconv.Itoa(int(p.number)))
		var serveErr func() error
		switch p.proto {
		case "tcp":
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listening on %d/tcp: %w", p.number, err)
			}
			serveErr = func() error { return responder.ServeTCP(ctx, ln, name) }
		case "udp":
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				return fmt.Errorf("listening on %d/udp: %w", p.number, err)
			}
			serveErr = func() error { return responder.ServeUDP(ctx, pc, name) }
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serveErr(); err != nil {
				cancel(fmt.Errorf("serving %d/%s: %w", p.number, p.proto, err))
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
