package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// MinIO is a running single-drive MinIO server (object lock, versioning,
// lifecycle and SSE-S3 all work in this mode). It runs as a separate process
// only: Lifeboat never imports MinIO code.
type MinIO struct {
	Endpoint  string // http://127.0.0.1:<port>
	Port      int
	AccessKey string
	SecretKey string
	Dir       string
	LogPath   string

	opts startOptions
	proc *process
	argv []string
}

// StartMinIO starts MinIO with its data and log under dir.
func StartMinIO(ctx context.Context, dir string, detached bool) (*MinIO, error) {
	bin, err := Tool("minio")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	consolePort, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	m := &MinIO{
		Endpoint:  fmt.Sprintf("http://127.0.0.1:%d", port),
		Port:      port,
		AccessKey: "lifeboat-admin",
		SecretKey: "lifeboat-secret-" + strconv.Itoa(port),
		Dir:       dir,
		LogPath:   filepath.Join(dir, "minio.log"),
	}
	m.opts = startOptions{detached: detached, env: []string{
		"MINIO_ROOT_USER=" + m.AccessKey,
		"MINIO_ROOT_PASSWORD=" + m.SecretKey,
		"MINIO_KMS_SECRET_KEY=lifeboat-key:" + base64.StdEncoding.EncodeToString(key),
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
	}}
	m.argv = []string{bin, "server", filepath.Join(dir, "data"),
		"--address", fmt.Sprintf("127.0.0.1:%d", port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort), "--quiet"}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Start (re)starts a stopped server on the same port and data.
func (m *MinIO) Start(ctx context.Context) error {
	p, err := startProcess("minio", m.LogPath, m.opts, m.argv...)
	if err != nil {
		return err
	}
	m.proc = p
	return p.waitReady(ctx, 60*time.Second, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.Endpoint+"/minio/health/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health: %s", resp.Status)
		}
		return nil
	})
}

// Stop stops the server; Start brings it back (fault tests).
func (m *MinIO) Stop() { m.proc.stop(syscall.SIGTERM, 10*time.Second) }

// Pid is the server's process id.
func (m *MinIO) Pid() int { return m.proc.cmd.Process.Pid }
