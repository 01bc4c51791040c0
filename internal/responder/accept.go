package responder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// AcceptLoop accepts connections on ln and runs handle for each in its own
// goroutine, at most maxConns at a time; further connections wait in the
// listen queue. It closes ln when ctx is done, waits for the handlers in
// progress, and returns nil then or when ln is closed by someone else.
// Accept timeouts are retried; any other accept error is returned, with
// what naming the service in the message.
func AcceptLoop(ctx context.Context, ln net.Listener, maxConns int, what string, handle func(net.Conn)) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	slots := make(chan struct{}, maxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		slots <- struct{}{}
		conn, err := ln.Accept()
		if err != nil {
			<-slots
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accepting on %s for %s: %w", ln.Addr(), what, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			handle(conn)
		}()
	}
}
