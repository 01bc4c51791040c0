package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/topolab/topolab/internal/testenv"
	"github.com/topolab/topolab/topology"
)

// rootlessFixture enters a user namespace, builds the lab of fixture name
// in it and pings between two of its containers. It prints "rootless ok"
// when the ping succeeds.
func rootlessFixture(name string) int {
	reexecuted, code, err := EnterUserNamespace()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if reexecuted {
		return code
	}
	plan, err := loadPlan(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rt := New(Options{StateDir: os.Getenv(envStateDir)})
	l, err := rt.Up(context.Background(), plan)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer l.Close(context.Background())
	res, err := pingOutcome(l.Node("alpine1"), l.Plan().Container("alpine2").Interfaces[0].Address.Addr())
	fmt.Printf("uid %d in the user namespace, ping %s %v\n", os.Getuid(), res, err)
	if res != resultOK {
		return 1
	}
	fmt.Println("rootless ok")
	return 0
}

func TestRootlessUserNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("test needs setpriv to drop privileges")
	}
	// User 65534 must be able to run the test binary and write the state folder.
	dir, err := os.MkdirTemp("", "topolab-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "netns.test")
	copyFile(t, "/proc/self/exe", exe)

	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", exe)
	cmd.Env = append(os.Environ(), envRootless+"=default-bridge", envStateDir+"="+filepath.Join(dir, "state"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rootless ok") {
		t.Fatalf("rootless lab as nobody: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// noUserNamespaces runs the steps of TestRootlessWithoutUserNamespaces.
// In step "forbid" the process is root of a user namespace: it sets that
// namespace's user.max_user_namespaces to 0 and runs itself as user 1000
// for step "enter", which must get an error wrapping ErrEnvironment.
func noUserNamespaces(step string) int {
	switch step {
	case "forbid":
		if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0"), 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cmd := exec.Command("/proc/self/exe")
		cmd.Env = append(os.Environ(), envNoUserns+"=enter")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000, NoSetGroups: true}}
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "enter":
		_, _, err := EnterUserNamespace()
		fmt.Println(err)
		if !errors.Is(err, topology.ErrEnvironment) {
			return 1
		}
		fmt.Println("environment error ok")
		return 0
	}
	return 1
}

func TestRootlessWithoutUserNamespaces(t *testing.T) {
	testenv.RequireRoot(t)
	// A user namespace of the test's own limits only itself, so the root
	// user namespace's limit stays as it is.
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), envNoUserns+"=forbid")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "environment error ok") {
		t.Fatalf("EnterUserNamespace without user namespaces: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "max_user_namespaces") {
		t.Errorf("error does not name the sysctl to change:\n%s", out)
	}
}
