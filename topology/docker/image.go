package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"

	"github.com/topolab/topolab/topology"
)

// ProbeImageRepo is the repository of the probe image; its tag is a hash of
// the build inputs.
const ProbeImageRepo = "topolab-probe"

// DefaultBusybox is the statically linked busybox the probe image is built
// from, as Debian's busybox-static package installs it.
const DefaultBusybox = "/bin/busybox"

const probeDockerfile = `FROM scratch
COPY busybox /bin/busybox
COPY topolab-responder /bin/topolab-responder
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin
ENTRYPOINT ["/bin/topolab-responder"]
`

// ProbeImage returns the tag of the probe image, building it first when the
// daemon has no image of that tag.
func (r *Runtime) ProbeImage(ctx context.Context) (string, error) {
	r.imageMu.Lock()
	defer r.imageMu.Unlock()
	if r.probeImage != "" {
		return r.probeImage, nil
	}

	busybox, err := readStatic(r.opts.Busybox, DefaultBusybox, "busybox",
		"install Debian's busybox-static or set Options.Busybox")
	if err != nil {
		return "", err
	}
	responderPath, err := findResponder(r.opts.Responder)
	if err != nil {
		return "", err
	}
	responderBin, err := readStatic(responderPath, "", "topolab-responder",
		"build it with CGO_ENABLED=0 go build ./cmd/topolab-responder")
	if err != nil {
		return "", err
	}

	sum := sha256.New()
	for _, part := range [][]byte{[]byte(probeDockerfile), busybox, responderBin} {
		fmt.Fprintf(sum, "%d\x00", len(part))
		sum.Write(part)
	}
	tag := ProbeImageRepo + ":" + hex.EncodeToString(sum.Sum(nil))[:12]

	if _, err := r.client.ImageInspect(ctx, tag); err == nil {
		r.probeImage = tag
		return tag, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspecting image %s: %w", tag, r.unreachable(err))
	}

	r.log.Info("building probe image", "tag", tag)
	buildContext, err := probeContext(busybox, responderBin)
	if err != nil {
		return "", err
	}
	resp, err := r.client.ImageBuild(ctx, buildContext, client.ImageBuildOptions{
		Tags:        []string{tag},
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{LabelImage: "probe"},
		// The legacy builder needs no registry for FROM scratch.
		Version: build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("building image %s: %w", tag, r.unreachable(err))
	}
	defer resp.Body.Close()
	if err := readBuildOutput(resp.Body); err != nil {
		return "", fmt.Errorf("building image %s: %w", tag, err)
	}
	r.probeImage = tag
	return tag, nil
}

// readBuildOutput drains a build's JSON message stream and returns the
// first error it reports.
func readBuildOutput(body io.Reader) error {
	dec := json.NewDecoder(body)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading build output: %w", err)
		}
		if msg.Error != "" {
			return errors.New(strings.TrimSpace(msg.Error))
		}
	}
}

// probeContext returns the tar build context of the probe image.
func probeContext(busybox, responderBin []byte) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(probeDockerfile)},
		{"busybox", 0o755, busybox},
		{"topolab-responder", 0o755, responderBin},
	}
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("writing build context: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("writing build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("writing build context: %w", err)
	}
	return &buf, nil
}

// findResponder returns the path of the topolab-responder binary: path
// when set, else the file beside the running executable, else the one on
// PATH.
func findResponder(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	if exe, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(exe), "topolab-responder")
		if _, err := os.Stat(beside); err == nil {
			return beside, nil
		}
	}
	if p, err := exec.LookPath("topolab-responder"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: topolab-responder not found beside the executable or on PATH: build it with CGO_ENABLED=0 go build ./cmd/topolab-responder",
		topology.ErrEnvironment)
}

// readStatic reads an executable and checks that it is a statically linked
// ELF file, because the probe image has no dynamic loader.
func readStatic(path, fallback, what, fix string) ([]byte, error) {
	if path == "" {
		path = fallback
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w: %s", topology.ErrEnvironment, what, err, fix)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s at %s is not an ELF executable: %s", topology.ErrEnvironment, what, path, fix)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%w: %s at %s is dynamically linked: %s", topology.ErrEnvironment, what, path, fix)
		}
	}
	return data, nil
}

// imagePresent reports whether the daemon has image ref.
func (r *Runtime) imagePresent(ctx context.Context, ref string) (bool, error) {
	_, err := r.client.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("inspecting image %s: %w", ref, r.unreachable(err))
	}
}
