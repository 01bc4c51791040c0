// Package testenv decides whether tests that need root or a Docker daemon
// can run, and turns their skips into failures where the environment must
// provide them.
package testenv

import (
	"context"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// RequireVar is the environment variable that, set to 1, makes a missing
// privilege or daemon fail a test instead of skipping it. CI sets it so that
// a green run means the privileged tests ran.
const RequireVar = "TOPOLAB_REQUIRE_PRIVILEGED"

// Required reports whether skips of privileged tests are failures.
func Required() bool { return os.Getenv(RequireVar) == "1" }

func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s, and %s=1 forbids skipping", reason, RequireVar)
	}
	t.Skip(reason)
}

// RequireRoot skips t unless the process runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "test needs root to create network namespaces")
	}
}

// DockerSocket is the Docker Engine socket the tests use.
const DockerSocket = "/var/run/docker.sock"

// RequireDocker skips t unless a Docker Engine answers on DockerSocket.
func RequireDocker(t testing.TB) {
	t.Helper()
	client := &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", DockerSocket)
		}},
	}
	resp, err := client.Get("http://docker/_ping")
	if err != nil {
		skipOrFail(t, "test needs a Docker Engine on "+DockerSocket+": "+err.Error())
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		skipOrFail(t, "Docker Engine on "+DockerSocket+" answered "+resp.Status)
	}
}
